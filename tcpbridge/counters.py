"""
What one bridge has done since it started, counted where it happens: the
session, the listening socket, the serial line and the command line each
add to their bridge's L{Counters}.  The metrics and status pages read them
live (L{tcpbridge.metrics}).
"""

from collections import Counter
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

if TYPE_CHECKING:
    from tcpbridge.session import Session

#: Why a connection was refused, as the metrics label it, by the start of
#: the reason the log gives.
REFUSALS = (
    ("a session is already open", "busy"),
    ("not in the allow list", "allow"),
    ("not TCPSERV", "tcpserv"),
    ("TLS handshake failed", "tls"),
    ("not an IP address", "address"),
)


def refusalLabel(reason: str) -> str:
    """
    The metrics label of a refusal reason: one of a few fixed words, so
    that an address in the reason makes no new series.
    """
    for start, label in REFUSALS:
        if reason.startswith(start):
            return label
    return "other"


class Counters:
    """
    One bridge's counts.

    @ivar sessions: sessions opened.
    @ivar refused: refused connections, by L{refusalLabel}.
    @ivar deviceLosses: times the serial line was lost.
    @ivar udpDropped: UDP datagrams dropped (a UDP service counts them).
    @ivar session: the last session opened, and C{openedAt} when.
    """

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.sessions = 0
        self.refused: Dict[str, int] = Counter()
        self.deviceLosses = 0
        self.udpDropped = 0
        self.session: Optional["Session"] = None
        self.openedAt = 0.0
        self._toPeer = 0
        self._toHost = 0

    def opened(self, session: "Session") -> None:
        """
        A session opened: the bytes of the one before are final.
        """
        self._toPeer, self._toHost = self.bytes()
        self.sessions += 1
        self.session = session
        self.openedAt = self.reactor.seconds()

    def refusedFor(self, reason: str) -> None:
        """
        A connection was refused, for C{reason} (as the log says it).
        """
        self.refused[refusalLabel(reason)] += 1

    def bytes(self) -> Tuple[int, int]:
        """
        Bytes sent to the peer and to the host, the open session's so far
        included.
        """
        toPeer, toHost = self._toPeer, self._toHost
        if self.session is not None:
            toPeer += self.session.splice.sentToPeer
            toHost += self.session.splice.sentToHost
        return toPeer, toHost
