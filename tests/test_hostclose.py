"""
Integration tests of the host's close (a bare ETX in data mode) against
peers that never close their side: the host's answer comes as soon as its
own bytes and the FIN are out, for listening, dialled and TLS sessions, and
the old connection lingers in the background without holding anything.
"""

import os
from typing import Any, Generator, List

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint, wrapClientTLS
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory
from twisted.internet import ssl
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from tests.hostside import CLOSED, ETX, OK, WAITING, BridgeHarness, Receiver, freePort
from tests.test_tls_integration import Authority
from tcpbridge import dle
from tcpbridge import session as sessionModule


@implementer(IHalfCloseableProtocol)
class Stubborn(Receiver):
    """
    A peer that never closes: it sees the bridge's FIN (C{eof}) and keeps
    its own side open until the test ends.
    """

    eof = False

    def readConnectionLost(self) -> None:
        self.eof = True
        self._check()

    def writeConnectionLost(self) -> None:
        pass


class StubbornServer(Factory):
    """
    A server the bridge dials whose connections never close.
    """

    noisy = False

    def __init__(self) -> None:
        self.accepted: List[Stubborn] = []

    def buildProtocol(self, addr: Any) -> Stubborn:
        peer = Stubborn(reactor, "server connection %d" % (len(self.accepted) + 1,))
        self.accepted.append(peer)
        return peer


def openFiles() -> int:
    """
    How many file descriptors this process has open.
    """
    return len(os.listdir("/proc/self/fd"))


class HostCloseTests(BridgeHarness, TestCase):
    """
    The host's bare ETX, with peers that never close.
    """

    timeout = 120

    def setUp(self) -> None:
        # The peer never closes and the linger is long: an answer that came
        # only when the linger ended would come after the test's waits.
        self.patch(sessionModule, "CLOSE_GRACE", 300.0)

    @inlineCallbacks
    def stubbornPeer(
        self, port: int, source: str = "127.0.0.2"
    ) -> Generator[Deferred, Any, Stubborn]:
        """
        Connect a peer that never closes from C{source}; aborted at clean-up.
        """
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, bindAddress=(source, 0))
        peer = yield endpoint.connect(Factory.forProtocol(lambda: Stubborn(reactor, "peer")))
        self.addCleanup(peer.close)
        return peer

    @inlineCallbacks
    def assertClosedAtOnce(
        self, host: Receiver, peer: Stubborn, data: bytes
    ) -> Generator[Deferred, Any, None]:
        """
        The host sends C{data} then a bare ETX: the peer gets all of it then
        the FIN, and the host its answer while the peer still holds the
        connection open.
        """
        host.write(dle.encode(data) + ETX)
        self.assertEqual((yield peer.count(len(data))), data)
        self.assertEqual((yield host.until(CLOSED)), CLOSED)
        self.assertIsNone(peer.lostReason, "the answer waited for the connection to end")
        yield deferLater(reactor, 0.05, lambda: None)
        self.assertTrue(peer.eof, "the peer did not get the FIN")
        self.assertEqual(bytes(peer.received), data)

    @inlineCallbacks
    def test_listening(self) -> Generator[Deferred, Any, None]:
        """
        A listening session: the answer comes at once; the old peer still
        open, C{AT} answers and a new session opens.
        """
        service, host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.stubbornPeer(port)
        self.assertEqual((yield host.until(WAITING)), WAITING)
        yield self.assertClosedAtOnce(host, peer, os.urandom(100000))
        self.assertEqual((yield host.command(b"AT")), OK)
        self.assertEqual(len(service.modem.lingering), 1)
        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)
        second = yield self.stubbornPeer(port, "127.0.0.3")
        self.assertEqual((yield host.until(WAITING)), WAITING)
        second.write(b"hello")
        self.assertEqual((yield host.count(5)), b"hello")
        # The first peer's late bytes are dropped, not given to the second session.
        peer.write(b"late")
        self.assertEqual((yield host.quiet(0.2)), b"")
        self.assertIsNone(peer.lostReason)

    @inlineCallbacks
    def test_lingerEnds(self) -> Generator[Deferred, Any, None]:
        """
        The lingering connection is closed once the grace time has passed.
        """
        self.patch(sessionModule, "CLOSE_GRACE", 0.2)
        service, host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.stubbornPeer(port)
        yield host.until(WAITING)
        host.write(b"x" + ETX)
        self.assertEqual((yield host.until(CLOSED)), CLOSED)
        self.assertEqual(len(service.modem.lingering), 1)
        yield deferLater(reactor, 0.5, lambda: None)
        self.assertEqual(service.modem.lingering, set())
        self.assertTrue(peer.eof)

    @inlineCallbacks
    def test_dialled(self) -> Generator[Deferred, Any, None]:
        """
        A session opened with C{AT#OTCP}: the answer comes at once.
        """
        server = StubbornServer()
        listening = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(server)
        self.addCleanup(listening.stopListening)
        self.addCleanup(lambda: [p.close() for p in server.accepted])
        service, host = self.startBridge()
        yield self.hello(host)
        for line in [
            b'AT#TCPSERV="127.0.0.1"',
            b"AT#TCPPORT=%d" % (listening.getHost().port,),
            b"AT#TCPTXDELAY=0",
        ]:
            self.assertEqual((yield host.command(line)), OK)
        host.write(b"AT#OTCP\r")
        self.assertEqual((yield host.until(WAITING)), WAITING)
        yield deferLater(reactor, 0.05, lambda: None)
        [peer] = server.accepted
        yield self.assertClosedAtOnce(host, peer, os.urandom(100000))
        host.write(b"AT#OTCP\r")
        self.assertEqual((yield host.until(WAITING)), WAITING)

    @inlineCallbacks
    def test_tls(self) -> Generator[Deferred, Any, None]:
        """
        A TLS session: the answer comes at once too.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        ca = Authority("ca", directory)
        cert, key, _ = ca.issue("server", "localhost", names=["localhost"], addresses=["127.0.0.1"])
        service, host = self.startBridge(tls_cert=cert, tls_key=key)
        yield self.hello(host)
        port = yield self.listen(host)
        options = ssl.optionsForClientTLS("localhost", trustRoot=ca.trustRoot)
        endpoint = wrapClientTLS(options, TCP4ClientEndpoint(reactor, "127.0.0.1", port))
        peer = yield endpoint.connect(Factory.forProtocol(lambda: Stubborn(reactor, "TLS peer")))
        self.addCleanup(peer.close)
        self.assertEqual((yield host.until(WAITING)), WAITING)
        data = os.urandom(100000)
        host.write(dle.encode(data) + ETX)
        self.assertEqual((yield peer.count(len(data))), data)
        self.assertEqual((yield host.until(CLOSED)), CLOSED)
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_thousandSessions(self) -> Generator[Deferred, Any, None]:
        """
        1,000 host-closed sessions in a row with peers that never close:
        once the linger has passed, the bridge holds no file of theirs.
        """
        self.patch(sessionModule, "CLOSE_GRACE", 0.5)
        service, host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        self.assertEqual((yield host.command(b"AT#LTCPSTOP")), OK)
        before = openFiles()
        peers = []
        for i in range(1000):
            host.write(b"AT#LTCPSTART\r")
            self.assertEqual((yield host.result()), OK)
            peer = yield self.stubbornPeer(port, "127.0.0.%d" % (2 + i % 200,))
            peers.append(peer)
            yield host.until(WAITING)
            host.write(b"bye" + ETX)
            self.assertEqual((yield host.until(CLOSED)), CLOSED)
        yield deferLater(reactor, 1.0, lambda: None)
        self.assertEqual(service.modem.lingering, set())
        stillOpen = sum(1 for p in peers if p.lostReason is None)
        self.assertEqual(openFiles() - stillOpen, before)
        self.assertTrue(all(p.eof for p in peers))
