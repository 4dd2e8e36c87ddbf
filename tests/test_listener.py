"""
Tests for L{tcpbridge.listener}: which peers may open a session, and the
factory that admits only the first of them.
"""

import ipaddress
from typing import Any, Generator, List

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tcpbridge.listener import (
    AdmissionFilter,
    Listener,
    OneSessionFactory,
    PeerHandler,
    PeerProtocol,
)


def peer(host: str, port: int = 40000) -> IPv4Address:
    """
    The address of a TCP peer at C{host}.
    """
    return IPv4Address("TCP", host, port)


class RecordingHandler(PeerHandler):
    """
    A session handler that records what its protocols tell it.
    """

    def __init__(self) -> None:
        self.events: list = []

    def peerConnected(self, protocol: PeerProtocol) -> None:
        self.events.append(("connected", protocol))

    def peerData(self, data: bytes) -> None:
        self.events.append(("data", data))

    def peerLost(self, protocol: PeerProtocol, reason: object) -> None:
        self.events.append(("lost", protocol))

    def peerFailed(self, protocol: PeerProtocol, reason: object) -> None:
        self.events.append(("failed", protocol))


class AdmissionFilterTests(SynchronousTestCase):
    """
    Tests for L{AdmissionFilter}.
    """

    def test_everyone(self) -> None:
        """
        TCPSERV 255.255.255.255 with no allow list admits every address.
        """
        admission = AdmissionFilter("255.255.255.255")
        for host in ("127.0.0.1", "10.1.2.3", "::1", "::ffff:192.0.2.1"):
            self.assertIsNone(admission.refusal(host), host)

    def test_exactTCPSERV(self) -> None:
        """
        A dotted-decimal TCPSERV admits that address and refuses any other.
        """
        admission = AdmissionFilter("10.0.0.1")
        self.assertIsNone(admission.refusal("10.0.0.1"))
        self.assertIsNotNone(admission.refusal("10.0.0.2"))
        self.assertIsNotNone(admission.refusal("127.0.0.1"))

    def test_ipv4MappedPeer(self) -> None:
        """
        An IPv4-mapped IPv6 peer address is compared as the IPv4 address it holds.
        """
        admission = AdmissionFilter("10.0.0.1")
        self.assertIsNone(admission.refusal("::ffff:10.0.0.1"))
        self.assertIsNotNone(admission.refusal("::ffff:10.0.0.2"))

    def test_allowListOnTopOfTCPSERV(self) -> None:
        """
        With an allow list, a peer must be in one of its networks and match TCPSERV.
        """
        allow = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8::/32")]
        everyone = AdmissionFilter("255.255.255.255", allow)
        self.assertIsNone(everyone.refusal("10.0.0.77"))
        self.assertIsNone(everyone.refusal("2001:db8::5"))
        self.assertIsNone(everyone.refusal("::ffff:10.0.0.9"))
        self.assertIsNotNone(everyone.refusal("10.0.1.1"))
        self.assertIsNotNone(everyone.refusal("2001:db9::5"))
        one = AdmissionFilter("10.0.0.5", allow)
        self.assertIsNone(one.refusal("10.0.0.5"))
        self.assertIsNotNone(one.refusal("10.0.0.6"))
        outside = AdmissionFilter("192.0.2.1", allow)
        self.assertIsNotNone(outside.refusal("192.0.2.1"))

    def test_emptyAllowList(self) -> None:
        """
        An empty allow list admits no one.
        """
        self.assertIsNotNone(AdmissionFilter("255.255.255.255", []).refusal("10.0.0.1"))

    def test_garbageHost(self) -> None:
        """
        A host that is not an IP address is refused, whatever TCPSERV says.
        """
        admission = AdmissionFilter("255.255.255.255")
        for host in ("", "localhost", "10.0.0", "garbage"):
            self.assertIsNotNone(admission.refusal(host), host)

    def test_scopedIPv6(self) -> None:
        """
        A scope id on an IPv6 peer address is ignored.
        """
        allow = [ipaddress.ip_network("fe80::/10")]
        self.assertIsNone(AdmissionFilter("255.255.255.255", allow).refusal("fe80::1%eth0"))


class OneSessionFactoryTests(SynchronousTestCase):
    """
    Tests for L{OneSessionFactory}.
    """

    def setUp(self) -> None:
        self.handler = RecordingHandler()
        self.factory = OneSessionFactory(AdmissionFilter("10.0.0.1"), self.handler, "test")

    def test_firstAllowed(self) -> None:
        """
        The first allowed address gets a L{PeerProtocol} bound to the handler.
        """
        protocol = self.factory.buildProtocol(peer("10.0.0.1"))
        self.assertIsInstance(protocol, PeerProtocol)
        self.assertIs(protocol.handler, self.handler)
        self.assertTrue(self.factory.admitted)
        self.assertEqual(self.factory.rejected, 0)

    def test_disallowed(self) -> None:
        """
        A disallowed address gets no protocol, is counted, and leaves the factory admitting.
        """
        self.assertIsNone(self.factory.buildProtocol(peer("10.0.0.2")))
        self.assertEqual(self.factory.rejected, 1)
        self.assertFalse(self.factory.admitted)
        self.assertIsNotNone(self.factory.buildProtocol(peer("10.0.0.1")))

    def test_secondAllowedRefused(self) -> None:
        """
        Once one connection is admitted, another allowed address gets no protocol.
        """
        self.assertIsNotNone(self.factory.buildProtocol(peer("10.0.0.1", 1)))
        self.assertIsNone(self.factory.buildProtocol(peer("10.0.0.1", 2)))
        self.assertEqual(self.factory.rejected, 1)

    def test_rejectedCounts(self) -> None:
        """
        C{rejected} counts every refused connection, before and after admission.
        """
        self.factory.buildProtocol(peer("192.0.2.1"))
        self.factory.buildProtocol(peer("192.0.2.2"))
        self.factory.buildProtocol(peer("10.0.0.1"))
        self.factory.buildProtocol(peer("10.0.0.1"))
        self.factory.buildProtocol(peer("192.0.2.3"))
        self.assertEqual(self.factory.rejected, 4)

    def test_ipv6Peer(self) -> None:
        """
        An IPv4-mapped IPv6 peer address matching TCPSERV is admitted.
        """
        protocol = self.factory.buildProtocol(IPv6Address("TCP", "::ffff:10.0.0.1", 1))
        self.assertIsNotNone(protocol)

    def test_addressWithoutHost(self) -> None:
        """
        An address with no host (not an IP socket) is refused.
        """
        factory = OneSessionFactory(AdmissionFilter("255.255.255.255"), self.handler)
        self.assertIsNone(factory.buildProtocol(object()))
        self.assertEqual(factory.rejected, 1)

    def test_tlsAdmitsFirstHandshake(self) -> None:
        """
        Over TLS, allowed clients all get protocols; the first to finish its handshake opens the
        session and a later one is aborted and counted.
        """
        factory = OneSessionFactory(AdmissionFilter("255.255.255.255"), self.handler, tls=True)
        first = factory.buildProtocol(peer("10.0.0.1", 1))
        second = factory.buildProtocol(peer("10.0.0.2", 2))
        self.assertIsNotNone(first)
        self.assertIsNotNone(second)
        firstTransport, secondTransport = StringTransport(), StringTransport()
        first.makeConnection(firstTransport)
        second.makeConnection(secondTransport)
        self.assertEqual(self.handler.events, [])
        second.handshakeCompleted()
        self.assertEqual(self.handler.events, [("connected", second)])
        first.handshakeCompleted()
        self.assertTrue(firstTransport.disconnected)
        self.assertEqual(self.handler.events, [("connected", second)])
        self.assertEqual(factory.rejected, 1)

    def test_tlsNothingBeforeHandshake(self) -> None:
        """
        Over TLS, data before the handshake is dropped and a loss before it is a failure, not a
        session end.
        """
        factory = OneSessionFactory(AdmissionFilter("255.255.255.255"), self.handler, tls=True)
        protocol = factory.buildProtocol(peer("10.0.0.1"))
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(b"early")
        protocol.connectionLost(None)
        self.assertEqual(self.handler.events, [("failed", protocol)])
        self.assertFalse(factory.admitted)

    def test_protocolReportsToHandler(self) -> None:
        """
        The admitted protocol reports connection, data and loss to the handler.
        """
        protocol = self.factory.buildProtocol(peer("10.0.0.1"))
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(b"x")
        protocol.connectionLost(None)
        self.assertEqual(
            self.handler.events,
            [("connected", protocol), ("data", b"x"), ("lost", protocol)],
        )


class ListenerTests(TestCase):
    """
    Tests for L{Listener} on the real reactor, on loopback.
    """

    @inlineCallbacks
    def test_closeNamesBridge(self) -> Generator[Deferred, Any, None]:
        """
        Closing the listening socket logs a line naming the bridge and the port, in place of
        Twisted's own line that names neither.
        """
        from twisted.internet import reactor

        lines: List[str] = []

        def observe(event: dict) -> None:
            lines.append(formatEvent(event) or "")

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        factory = OneSessionFactory(AdmissionFilter("255.255.255.255"), RecordingHandler(), "demo")
        listener = Listener(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1"), factory)
        port = yield listener.start()
        number = port.getHost().port
        yield listener.stop()
        self.assertIn("demo: listening socket on port %d closed" % (number,), lines)
        self.assertNotIn("(TCP Port %d Closed)" % (number,), lines)
