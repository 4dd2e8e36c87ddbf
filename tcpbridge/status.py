"""
What each bridge is doing now, read live from the running services: the
one place the metrics (L{tcpbridge.metrics}) and the status page take it
from.  The page itself is HTML, or JSON on request.
"""

import html
import json
from typing import Any, Dict, Iterable, List

from twisted.web.resource import Resource
from twisted.web.server import Request

from tcpbridge.registry import CLOSING, CONNECTING, DATA, IDLE, LISTENING

#: A bridge whose serial line is not open (missing, lost, being retried).
DOWN = "DOWN"

#: Every state a bridge can be in.
STATES = (DOWN, IDLE, LISTENING, CONNECTING, DATA, CLOSING)


def bridgeStatus(bridge: Any, now: float) -> Dict[str, Any]:
    """
    One bridge (a L{tcpbridge.service.BridgeService}), as a dictionary of
    plain values.
    """
    modem = bridge.modem
    status: Dict[str, Any] = {
        "name": bridge.name,
        "device": bridge.config.device,
        "state": DOWN,
        "peer": None,
        "session_age": None,
        "session_bytes_to_peer": None,
        "session_bytes_to_host": None,
        "sessions": 0,
        "refused": {},
        "bytes_to_peer": 0,
        "bytes_to_host": 0,
        "device_losses": 0,
        "errors_sent": 0,
        "udp_dropped": 0,
    }
    if modem is None:
        return status
    counters = modem.counters
    if bridge.transport is not None:
        status["state"] = modem.state
    session = modem.session
    if session is not None and session is counters.session:
        status["peer"] = session.description
        status["session_age"] = round(now - counters.openedAt, 3)
        status["session_bytes_to_peer"] = session.splice.sentToPeer
        status["session_bytes_to_host"] = session.splice.sentToHost
    status["bytes_to_peer"], status["bytes_to_host"] = counters.bytes()
    status.update(
        sessions=counters.sessions,
        refused=dict(counters.refused),
        device_losses=counters.deviceLosses,
        errors_sent=modem.errorsSent,
        udp_dropped=counters.udpDropped,
    )
    return status


def allStatus(bridges: Iterable[Any], now: float) -> List[Dict[str, Any]]:
    """
    Every bridge's status, by name.
    """
    return sorted((bridgeStatus(b, now) for b in bridges), key=lambda s: s["name"])


#: The status page's columns: heading, key.
COLUMNS = (
    ("bridge", "name"),
    ("device", "device"),
    ("state", "state"),
    ("peer", "peer"),
    ("session age (s)", "session_age"),
    ("bytes to peer", "session_bytes_to_peer"),
    ("bytes to host", "session_bytes_to_host"),
    ("sessions", "sessions"),
)


def renderHTML(statuses: List[Dict[str, Any]]) -> bytes:
    """
    The status page: one table row per bridge.
    """

    def cell(value: Any) -> str:
        return html.escape("" if value is None else str(value))

    rows = [
        "<tr>%s</tr>" % ("".join("<td>%s</td>" % (cell(s[key]),) for _, key in COLUMNS),)
        for s in statuses
    ]
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tcpbridge status</title>"
        "</head><body><h1>tcpbridge: %d bridges</h1>\n<table>\n<tr>%s</tr>\n%s\n</table>"
        "</body></html>\n"
        % (
            len(statuses),
            "".join("<th>%s</th>" % (html.escape(heading),) for heading, _ in COLUMNS),
            "\n".join(rows),
        )
    ).encode("utf-8")


class StatusPage(Resource):
    """
    C{/status}: HTML, or JSON with C{?format=json} or C{Accept:
    application/json}.
    """

    isLeaf = True

    def __init__(self, bridges: Any, reactor: Any) -> None:
        Resource.__init__(self)
        self.bridges = bridges
        self.reactor = reactor

    def render_GET(self, request: Request) -> bytes:
        statuses = allStatus(self.bridges, self.reactor.seconds())
        accept = (request.getHeader("accept") or "").lower()
        asked = (request.args or {}).get(b"format")  # type: ignore[call-overload]
        if asked == [b"json"] or ("application/json" in accept and "text/html" not in accept):
            request.setHeader("content-type", "application/json")
            return json.dumps({"bridges": statuses}, indent=1).encode("utf-8")
        request.setHeader("content-type", "text/html; charset=utf-8")
        return renderHTML(statuses)
