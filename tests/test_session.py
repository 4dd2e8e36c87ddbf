"""
Tests for L{tcpbridge.session}: the host's close answered once its FIN is
out, the lingering connection after it, and what stops the linger.
"""

from typing import List

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from tests.modemside import SerialSide
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import IDLE, Modem
from tcpbridge.registry import CONNECTING
from tcpbridge.session import CLOSE_GRACE, CLOSE_TIMEOUT
from tcpbridge.trace import FROM_HOST

OK = b"\r\nOK\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n"


@implementer(ITCPTransport)
class HalfClosingTransport(StringTransport):
    """
    A string transport that can shut its sending side, as TCP can.
    """

    writeClosed = False

    def loseWriteConnection(self) -> None:
        self.writeClosed = True


class SessionTests(SerialSide, SynchronousTestCase):
    """
    Tests for L{tcpbridge.session.Session} through the modem.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.command(b"ATE0")
        self.peer = HalfClosingTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 4000))
        self.modem.claim(self.modem.services["tcp"], 1, CONNECTING)
        self.session = self.modem.openSession(self.peer, True, 0, "192.0.2.1:4000")
        self.written()
        self.events: List[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def test_answerWhenFINIsOut(self) -> None:
        """
        The host's ETX shuts the sending side; the host is answered as soon
        as that is done, while the connection still lingers.
        """
        self.send(b"last\x03")
        self.assertEqual(self.peer.value(), b"last")
        self.assertTrue(self.peer.writeClosed)
        self.assertEqual(self.written(), b"")
        self.session.peerWriteClosed(None)
        self.assertEqual(self.written(), CLOSED + OK)
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.modem.lingering, {self.session})
        self.assertFalse(self.peer.disconnecting)
        self.assertEqual(self.command(b"AT"), OK)

    def test_lingerDropsAndEnds(self) -> None:
        """
        While lingering the peer's bytes are dropped, never shown to the
        host; after the grace time the connection is closed, and its end
        logs the bytes dropped, with no timer left.
        """
        self.send(b"\x03")
        self.session.peerWriteClosed(None)
        self.written()
        self.session.peerData(b"late bytes")
        self.assertEqual(self.written(), b"")
        self.reactor.advance(CLOSE_GRACE)
        self.assertTrue(self.peer.disconnecting)
        self.session.peerLost(None, Failure(ConnectionDone()))
        self.assertEqual(self.modem.lingering, set())
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.written(), b"")
        self.assertIn(10, [e.get("count") for e in self.events])

    def test_peerClosesWhileLingering(self) -> None:
        """
        A peer that closes while the connection lingers ends the linger and
        cancels the grace timer.
        """
        self.send(b"\x03")
        self.session.peerWriteClosed(None)
        self.session.peerLost(None, Failure(ConnectionDone()))
        self.assertEqual(self.modem.lingering, set())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_shutWindowWaits(self) -> None:
        """
        A peer whose window stays shut keeps the host waiting until the
        close time-out aborts the connection; then the host is answered.
        """
        self.send(b"\x03")
        self.reactor.advance(CLOSE_TIMEOUT - 1)
        self.assertEqual(self.written(), b"")
        self.reactor.advance(1)
        self.assertTrue(self.peer.disconnecting)
        self.session.peerLost(None, Failure(ConnectionDone()))
        self.assertEqual(self.written(), CLOSED + OK)
        self.assertEqual(self.modem.lingering, set())

    def test_shutdownAbortsLingering(self) -> None:
        """
        Stopping the bridge (or losing its serial line) closes lingering
        connections at once.
        """
        self.send(b"\x03")
        self.session.peerWriteClosed(None)
        self.modem.shutdown()
        self.assertTrue(self.peer.disconnecting)

    def test_newSessionWhileLingering(self) -> None:
        """
        A new session opens while the old one lingers; the old one's bytes
        never reach it.
        """
        self.send(b"\x03")
        self.session.peerWriteClosed(None)
        self.written()
        peer = HalfClosingTransport()
        self.modem.claim(self.modem.services["tcp"], 1, CONNECTING)
        session = self.modem.openSession(peer, True, 0, "second")
        self.written()
        self.session.peerData(b"old")
        session.peerData(b"new")
        self.assertEqual(self.written(), b"new")
        self.session.peerLost(None, Failure(ConnectionDone()))
        self.assertIs(self.modem.session, session)
        self.assertEqual(self.written(), b"")

    def test_heldBytesTracedOnce(self) -> None:
        """
        Host bytes held while the close is answered, then run as commands,
        appear once in the trace.
        """
        events: List[tuple] = []
        self.modem.trace = lambda direction, data: events.append((direction, data))
        self.send(b"\x03AT\r")
        self.session.peerWriteClosed(None)
        self.assertEqual(self.written(), CLOSED + OK + OK)
        self.assertEqual([e for e in events if e[0] == FROM_HOST], [(FROM_HOST, b"\x03AT\r")])


class IdleTimeoutTests(SerialSide, SynchronousTestCase):
    """
    C{idle_timeout}: a session that moves no byte for that long is closed
    as a peer close would be; traffic either way postpones it.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(idle_timeout=10.0), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.peer = HalfClosingTransport()
        self.modem.claim(self.modem.services["tcp"], 1, CONNECTING)
        self.session = self.modem.openSession(self.peer, True, 0, "peer")

    def test_silentSessionClosed(self) -> None:
        """
        After the time-out with no byte either way, the peer connection is closed.
        """
        self.reactor.advance(9.9)
        self.assertFalse(self.peer.disconnecting)
        self.reactor.advance(0.1)
        self.assertTrue(self.peer.disconnecting)

    def test_trafficPostpones(self) -> None:
        """
        A byte from the host, then one from the peer, each restart the count.
        """
        self.reactor.advance(8)
        self.send(b"x")
        self.reactor.advance(8)
        self.session.peerData(b"y")
        self.reactor.advance(8)
        self.assertFalse(self.peer.disconnecting)
        self.reactor.advance(2)
        self.assertTrue(self.peer.disconnecting)

    def test_noTimeoutNoTimer(self) -> None:
        """
        Without an idle time-out the session sets no timer.
        """
        modem = Modem(BridgeConfig(), self.reactor)
        modem.makeConnection(StringTransport())
        modem.claim(modem.services["tcp"], 1, CONNECTING)
        before = len(self.reactor.getDelayedCalls())
        modem.openSession(HalfClosingTransport(), True, 0, "peer")
        self.assertEqual(len(self.reactor.getDelayedCalls()), before)
