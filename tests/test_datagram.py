"""
Tests for L{tcpbridge.datagram}: a UDP socket seen by a session as a stream
transport, with a fake port and a fake clock.
"""

import errno
from typing import Any, List, Optional

from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tcpbridge.counters import Counters
from tcpbridge.datagram import DatagramPeer

PEER = ("192.0.2.9", 5000)


class FakePort:
    """
    A connected UDP port that records what is written, and can refuse to
    take more (the kernel's buffer full).
    """

    def __init__(self) -> None:
        self.sent: List[bytes] = []
        self.full = False
        self.closed = False

    def write(self, datagram: bytes) -> None:
        if self.full:
            raise BlockingIOError(errno.EAGAIN, "full")
        self.sent.append(datagram)

    def stopListening(self) -> Any:
        self.closed = True
        return succeed(None)

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "127.0.0.1", 4000)


class FakeSession:
    def __init__(self) -> None:
        self.data: List[bytes] = []
        self.lost: Optional[object] = None

    def peerData(self, data: bytes) -> None:
        self.data.append(data)

    def peerLost(self, protocol: object, reason: object) -> None:
        self.lost = reason


class Producer:
    def __init__(self) -> None:
        self.paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False


class DatagramPeerTests(SynchronousTestCase):
    """
    Tests for L{DatagramPeer}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.peer = DatagramPeer(self.clock, "test", 100, 1000)
        self.port = FakePort()
        self.peer.makeConnection(self.port)
        self.session = FakeSession()
        self.peer.attach(self.session, PEER)

    def test_interface(self) -> None:
        """
        It is a push producer, as the session's splice needs.
        """
        self.assertTrue(verifyObject(IPushProducer, self.peer))

    def test_cut(self) -> None:
        """
        What the session writes leaves as datagrams of at most segmentSize bytes.
        """
        self.peer.write(b"x" * 250)
        self.assertEqual([len(d) for d in self.port.sent], [100, 100, 50])

    def test_receive(self) -> None:
        """
        A datagram from the peer reaches the session whole; one from another address does not.
        """
        self.peer.datagramReceived(b"hello", PEER)
        self.peer.datagramReceived(b"stranger", ("192.0.2.10", 5000))
        self.assertEqual(self.session.data, [b"hello"])
        self.assertEqual(self.peer.foreign, 1)

    def test_bounded(self) -> None:
        """
        While paused, datagrams wait up to the buffer's size; the rest are dropped and counted,
        and the waiting ones follow in order on resume.
        """
        self.peer.pauseProducing()
        for i in range(15):
            self.peer.datagramReceived(b"%03d" % (i,) * 33, PEER)
        self.assertEqual(self.session.data, [])
        self.assertEqual(self.peer.dropped, 5)
        self.assertEqual(self.peer.droppedBytes, 5 * 99)
        self.peer.resumeProducing()
        self.assertEqual(self.session.data, [b"%03d" % (i,) * 33 for i in range(10)])

    def test_dropsCountedForMetrics(self) -> None:
        """
        Each datagram dropped (the host's side full, or from another address) is counted in the
        bridge's counters, which the metrics read.
        """
        counters = Counters(self.clock)
        peer = DatagramPeer(self.clock, "test", 100, 100, None, counters)
        peer.makeConnection(FakePort())
        peer.attach(FakeSession(), PEER)
        peer.pauseProducing()
        for i in range(3):
            peer.datagramReceived(b"x" * 60, PEER)
        peer.datagramReceived(b"stranger", ("192.0.2.10", 5000))
        self.assertEqual(counters.udpDropped, 3)

    def test_resumeRepaused(self) -> None:
        """
        A session that pauses again while the buffer drains gets the rest later, in order.
        """
        self.peer.pauseProducing()
        for i in range(3):
            self.peer.datagramReceived(b"%d" % (i,), PEER)
        self.session.peerData = lambda data: (  # type: ignore[method-assign]
            self.session.data.append(data), self.peer.pauseProducing()
        )
        self.peer.resumeProducing()
        self.assertEqual(self.session.data, [b"0"])
        self.peer.datagramReceived(b"3", PEER)
        self.peer.resumeProducing()
        self.peer.resumeProducing()
        self.peer.resumeProducing()
        self.assertEqual(self.session.data, [b"0", b"1", b"2", b"3"])

    def test_kernelFull(self) -> None:
        """
        When the kernel takes no more, the host is held and the datagram sent later, in order.
        """
        producer = Producer()
        self.peer.registerProducer(producer, True)
        self.port.full = True
        self.peer.write(b"a" * 150)
        self.assertTrue(producer.paused)
        self.peer.write(b"b")
        self.port.full = False
        self.clock.advance(0.01)
        self.assertEqual(self.port.sent, [b"a" * 100, b"a" * 50, b"b"])
        self.assertFalse(producer.paused)

    def test_refusedResent(self) -> None:
        """
        A send that only reports an earlier ICMP refusal is sent again, and the refusal counted.
        """
        port = self.port
        original = port.write

        def refuseOnce(datagram: bytes) -> None:
            port.write = original  # type: ignore[method-assign]
            self.peer.connectionRefused()

        port.write = refuseOnce  # type: ignore[method-assign]
        self.peer.write(b"data")
        self.assertEqual(port.sent, [b"data"])
        self.assertEqual(self.peer.refused, 1)

    def test_close(self) -> None:
        """
        Closing closes the port and tells the session; nothing is written or read after.
        """
        self.peer.loseConnection()
        self.assertTrue(self.port.closed)
        self.assertIsNotNone(self.session.lost)
        self.peer.write(b"late")
        self.peer.datagramReceived(b"late", PEER)
        self.assertEqual(self.port.sent, [])
        self.assertEqual(self.session.data, [])

    def test_addresses(self) -> None:
        """
        getPeer names the peer; getHost the socket's own address.
        """
        self.assertEqual(self.peer.getPeer(), IPv4Address("UDP", *PEER))
        self.assertEqual(self.peer.getHost().port, 4000)
