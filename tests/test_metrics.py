"""
The metrics and status server on the real reactor: a real bridge on a pty,
a session from a loopback peer, and scrapes over HTTP while it runs,
parsed with C{prometheus-client}'s own parser.
"""

import json
from typing import Any, Dict, Generator, List, Tuple

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from tcpbridge.metrics import MetricsService
from tcpbridge.reload import Supervisor
from tcpbridge.serviceconfig import ServiceConfig, parseServiceConfig
from tcpbridge.config import ConfigError
from tests.hostside import ERROR, OK, BridgeHarness

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """
    Every sample of an exposition: (name, sorted labels) -> value.
    """
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


class MetricsTests(BridgeHarness, TestCase):
    """
    Metrics and status of a bridge with a session open.
    """

    timeout = 60

    def serve(self, bridges: List[Any]) -> int:
        service = MetricsService(bridges, ("127.0.0.1", 0), reactor)
        service.startService()
        self.addCleanup(service.stopService)
        return int(service.port.getHost().port)

    @inlineCallbacks
    def get(self, port: int, path: bytes, accept: bytes = b"*/*") -> Generator[Deferred, Any, Tuple[bytes, bytes]]:
        response = yield Agent(reactor).request(
            b"GET", b"http://127.0.0.1:%d%s" % (port, path), Headers({b"accept": [accept]})
        )
        body = yield readBody(response)
        return response.headers.getRawHeaders(b"content-type")[0], body

    @inlineCallbacks
    def test_sessionBytesScraped(self) -> Generator[Deferred, Any, None]:
        """
        A scrape during a session sees its bytes so far, the refused connection, the error
        answered and the state; the status page lists the bridge with its peer, in HTML and JSON.
        """
        service, host = self.startBridge(name="meter")
        port = self.serve([service])
        yield self.hello(host)
        self.assertEqual((yield host.command(b"AT+NOSUCH")), ERROR)
        listening = yield self.listen(host, tcpserv="127.0.0.2")
        refusedPeer = yield self.connect(listening, "127.0.0.3")
        yield refusedPeer.closed()
        peer = yield self.session(host, listening, "127.0.0.2")
        peer.write(b"x" * 1000)
        yield host.count(1000)
        host.write(b"y" * 300)
        yield peer.count(300)

        kind, body = yield self.get(port, b"/metrics")
        self.assertTrue(kind.startswith(b"text/plain"), kind)
        found = samples(body.decode("utf-8"))
        bridge = ("bridge", "meter")
        self.assertEqual(found[("tcpbridge_bytes_total", (bridge, ("direction", "to_host")))], 1000)
        self.assertEqual(found[("tcpbridge_bytes_total", (bridge, ("direction", "to_peer")))], 300)
        self.assertEqual(found[("tcpbridge_sessions_opened_total", (bridge,))], 1)
        self.assertEqual(found[("tcpbridge_sessions_refused_total", (bridge, ("reason", "tcpserv")))], 1)
        self.assertEqual(found[("tcpbridge_sessions_refused_total", (bridge, ("reason", "allow")))], 0)
        self.assertEqual(found[("tcpbridge_errors_sent_total", (bridge,))], 1)
        self.assertEqual(found[("tcpbridge_device_losses_total", (bridge,))], 0)
        self.assertEqual(found[("tcpbridge_state", (bridge, ("tcpbridge_state", "DATA")))], 1)
        self.assertEqual(found[("tcpbridge_state", (bridge, ("tcpbridge_state", "IDLE")))], 0)

        kind, body = yield self.get(port, b"/status", b"application/json")
        self.assertEqual(kind, b"application/json")
        status = json.loads(body)["bridges"][0]
        self.assertEqual(status["name"], "meter")
        self.assertEqual(status["device"], service.config.device)
        self.assertEqual(status["state"], "DATA")
        self.assertEqual(status["peer"].split(":")[0], "127.0.0.2")
        self.assertEqual((status["session_bytes_to_host"], status["session_bytes_to_peer"]), (1000, 300))
        self.assertGreaterEqual(status["session_age"], 0)

        kind, body = yield self.get(port, b"/status")
        self.assertTrue(kind.startswith(b"text/html"), kind)
        self.assertIn(b"<td>meter</td><td>%s</td><td>DATA</td><td>127.0.0.2:" % (service.config.device.encode(),), body)

        # After the session, the totals stay and the state is back to IDLE.
        yield peer.transport.loseConnection()
        yield host.until(b"OK\r\n")
        found = samples((yield self.get(port, b"/metrics"))[1].decode("utf-8"))
        self.assertEqual(found[("tcpbridge_bytes_total", (bridge, ("direction", "to_host")))], 1000)
        self.assertEqual(found[("tcpbridge_state", (bridge, ("tcpbridge_state", "IDLE")))], 1)

    @inlineCallbacks
    def test_everyBridgeListed(self) -> Generator[Deferred, Any, None]:
        """
        The status page lists every bridge of the process, one with no line as DOWN.
        """
        directory = self.mktemp()
        configs = [self.bridgeConfig(name="b%d" % (i,)) for i in range(5)]
        configs.append(self.bridgeConfig(name="gone", device=directory + "/ttyUSB9"))
        supervisor = Supervisor("unused.ini", configs, ServiceConfig(metrics=("127.0.0.1", 0)), reactor)
        supervisor.startService()
        self.addCleanup(supervisor.stopService)
        port = supervisor.metrics.port.getHost().port
        body = json.loads((yield self.get(port, b"/status?format=json"))[1])
        states = {b["name"]: b["state"] for b in body["bridges"]}
        self.assertEqual(states, {"b0": "IDLE", "b1": "IDLE", "b2": "IDLE", "b3": "IDLE", "b4": "IDLE", "gone": "DOWN"})


class ServiceSectionTests(SynchronousTestCase):
    """
    The C{[service]} section.
    """

    def test_metrics(self) -> None:
        """
        C{metrics = ADDRESS:PORT} is read; an address left out is loopback; [DEFAULT] does not
        reach the section.
        """
        text = "[DEFAULT]\ninterface = 127.0.0.1\n[service]\nmetrics = 0.0.0.0:9100\n[bridge:a]\ndevice = pty:/tmp/x\n"
        self.assertEqual(parseServiceConfig(text).metrics, ("0.0.0.0", 9100))
        self.assertEqual(parseServiceConfig("[service]\nmetrics = :9100\n").metrics, ("127.0.0.1", 9100))
        self.assertIsNone(parseServiceConfig("[bridge:a]\n").metrics)

    def test_bad(self) -> None:
        """
        A bad address, port or key is one error naming file, section and key.
        """
        for text, message in [
            ("[service]\nmetrics = 9100\n", "f.ini: [service] metrics: not ADDRESS:PORT: '9100'"),
            ("[service]\nmetrics = here:9100\n", "f.ini: [service] metrics: not an IP address: 'here'"),
            ("[service]\nmetrics = :0\n", "f.ini: [service] metrics: out of range: 0 (allowed: 1 to 65535)"),
            ("[service]\nport = 1\n", "f.ini: [service] port: unknown key"),
        ]:
            e = self.assertRaises(ConfigError, parseServiceConfig, text, "f.ini")
            self.assertEqual(str(e), message)
