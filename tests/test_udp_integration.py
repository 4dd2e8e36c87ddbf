"""
Integration tests of the UDP service on the real reactor: the real
L{BridgeService} on a C{pty:} device, the test playing the host on the pty
link and the peers as UDP sockets on loopback addresses (127.0.0.2,
127.0.0.3, ::1).
"""

import os
import socket
from typing import Any, Generator, List, Optional, Tuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tcpbridge import dle
from tests.hostside import CLOSED, ETX, OK, WAITING, BridgeHarness, SameBytesMixin, poll

#: Bytes full of the two bytes DLE coding escapes.
ESCAPES = b"\x03\x10" * 300 + b"a\x10\x03b\x10\x10\x03\x03"


def cme(code: int) -> bytes:
    return b"\r\n#CME ERROR: %d\r\n" % (code,)


def freeUDPPort(address: str = "127.0.0.1") -> int:
    """
    A UDP port free on C{address} right now (the host names the port).
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind((address, 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


class UDPPeer(DatagramProtocol):
    """
    A UDP socket on a loopback address, keeping every datagram it gets.
    """

    noisy = False

    def __init__(self) -> None:
        self.datagrams: List[Tuple[bytes, Any]] = []

    @property
    def data(self) -> bytes:
        return b"".join(d for d, _ in self.datagrams)

    def sizes(self) -> List[int]:
        return [len(d) for d, _ in self.datagrams]

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.datagrams.append((data, addr))

    def send(self, data: bytes, port: int, host: str = "127.0.0.1") -> None:
        self.transport.write(data, (host, port))


class UDPTests(BridgeHarness, SameBytesMixin, TestCase):
    """
    C{AT#OUDP}, C{AT#LUDPSTART} and their sessions through the real
    service.
    """

    timeout = 90

    def peer(self, address: str) -> Tuple[UDPPeer, int]:
        """
        A UDP peer bound on C{address} (closed at clean-up), and its port.
        """
        peer = UDPPeer()
        port = reactor.listenUDP(0, peer, interface=address, maxPacketSize=65536)
        self.addCleanup(port.stopListening)
        return peer, port.getHost().port

    def received(self, peer: UDPPeer, n: int, what: str = "") -> "Deferred[object]":
        """
        Wait until C{peer} has received C{n} bytes.
        """
        return poll(reactor, lambda: len(peer.data) >= n, what or "%d bytes at the peer" % (n,))

    @inlineCallbacks
    def start(self, **config: Any) -> Generator[Deferred, Any, Any]:
        self.service, host = self.startBridge(**config)
        yield self.hello(host)
        self.assertEqual((yield host.command(b"AT+CMEE=1")), OK)
        return host

    @inlineCallbacks
    def configure(self, host: Any, **values: Any) -> Generator[Deferred, Any, None]:
        for name, value in values.items():
            if isinstance(value, str):
                line = b'AT#%s="%s"' % (name.encode(), value.encode())
            else:
                line = b"AT#%s=%d" % (name.encode(), value)
            self.assertEqual((yield host.command(line)), OK, line)

    @inlineCallbacks
    def dial(
        self, dleMode: int, address: str = "127.0.0.2", delay: int = 0, **config: Any
    ) -> Generator[Deferred, Any, Tuple[Any, UDPPeer, int]]:
        """
        Start a bridge and open a UDP session to a new peer on C{address}.
        """
        host = yield self.start(**config)
        peer, port = self.peer(address)
        yield self.configure(
            host, UDPSERV=address, UDPPORT=port, UDPDLEMODE=dleMode, UDPTXDELAY=delay
        )
        host.write(b"AT#OUDP\r")
        self.assertEqual((yield host.until(WAITING)), WAITING)
        return host, peer, port

    @inlineCallbacks
    def exchange(self, host: Any, peer: UDPPeer, dleMode: bool, bridgePort: Optional[int] = None,
                 address: str = "127.0.0.1") -> Generator[Deferred, Any, None]:
        """
        Escape-dense bytes each way: byte-exact at the peer, each datagram
        whole (DLE-coded in DLEMODE 1) at the host.
        """
        host.write(dle.encode(ESCAPES) if dleMode else ESCAPES)
        yield self.received(peer, len(ESCAPES))
        self.assertSameBytes(peer.data, ESCAPES, "at the peer")
        source = peer.datagrams[0][1]
        for datagram in [b"\x03first\x10", b"\x10\x03", ESCAPES]:
            peer.transport.write(datagram, source)
            expected = dle.encode(datagram) if dleMode else datagram
            self.assertSameBytes((yield host.count(len(expected))), expected, "at the host")

    @inlineCallbacks
    def test_dialDLE1(self) -> Generator[Deferred, Any, None]:
        """
        AT#OUDP with UDPDLEMODE 1 carries escape-dense bytes both ways byte-exact, and a bare ETX
        closes the session.
        """
        host, peer, _ = yield self.dial(1)
        yield self.exchange(host, peer, True)
        host.write(ETX)
        self.assertEqual((yield host.count(len(CLOSED))), CLOSED)
        self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)

    @inlineCallbacks
    def test_dialDLE0(self) -> Generator[Deferred, Any, None]:
        """
        AT#OUDP with UDPDLEMODE 0 is transparent both ways: an ETX is data.
        """
        host, peer, _ = yield self.dial(0)
        yield self.exchange(host, peer, False)
        self.assertEqual((yield host.quiet()), b"")

    @inlineCallbacks
    def test_dialIPv6(self) -> Generator[Deferred, Any, None]:
        """
        AT#OUDP to ::1 carries bytes both ways over IPv6.
        """
        host, peer, _ = yield self.dial(1, address="::1", interface="::1")
        yield self.exchange(host, peer, True)
        self.assertEqual(peer.datagrams[0][1][0], "::1")

    @inlineCallbacks
    def test_dialUnresolved(self) -> Generator[Deferred, Any, None]:
        """
        AT#OUDP to a name that does not resolve answers 38027, and the bridge is idle.
        """
        host = yield self.start()
        yield self.configure(host, UDPSERV="nonexistent.invalid", UDPPORT=9)
        self.assertEqual((yield host.command(b"AT#OUDP", timeout=20)), cme(38027))
        self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)

    @inlineCallbacks
    def test_gathering(self) -> Generator[Deferred, Any, None]:
        """
        With UDPTXDELAY set, full datagrams of udp_payload bytes leave at once and the partial
        rest only after the delay.
        """
        host, peer, _ = yield self.dial(1, delay=1000, udp_payload=100)
        data = os.urandom(250).replace(b"\x03", b"x").replace(b"\x10", b"y")
        host.write(data)
        yield self.received(peer, 200, "the two full datagrams")
        self.assertEqual(peer.sizes(), [100, 100])
        yield deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(peer.sizes(), [100, 100], "the partial datagram left before its delay")
        yield self.received(peer, 250, "the partial datagram")
        self.assertEqual(peer.sizes(), [100, 100, 50])
        self.assertEqual(peer.data, data)

    @inlineCallbacks
    def test_noGathering(self) -> Generator[Deferred, Any, None]:
        """
        With UDPTXDELAY 0 each read leaves at once, cut into datagrams of at most udp_payload
        bytes.
        """
        host, peer, _ = yield self.dial(0, delay=0, udp_payload=100)
        data = os.urandom(1000)
        host.write(data)
        yield self.received(peer, 1000)
        self.assertEqual(peer.data, data)
        self.assertTrue(all(size <= 100 for size in peer.sizes()), peer.sizes())
        self.assertGreaterEqual(len(peer.sizes()), 10)

    @inlineCallbacks
    def listenUDP(self, host: Any, udpserv: str = "255.255.255.255", address: str = "127.0.0.1",
               dleMode: int = 1) -> Generator[Deferred, Any, int]:
        port = freeUDPPort(address)
        yield self.configure(host, UDPSERV=udpserv, UDPPORT=port, UDPDLEMODE=dleMode, UDPTXDELAY=0)
        self.assertEqual((yield host.command(b"AT#LUDPSTART")), OK)
        return port

    @inlineCallbacks
    def test_listenFilter(self) -> Generator[Deferred, Any, None]:
        """
        While listening, a datagram from a source UDPSERV does not name is dropped unseen; the
        first admitted one opens the session and fixes the peer; others stay unseen.
        """
        host = yield self.start()
        port = yield self.listenUDP(host, "127.0.0.2")
        stranger, _ = self.peer("127.0.0.3")
        stranger.send(b"not for you", port)
        self.assertEqual((yield host.quiet()), b"")
        admitted, _ = self.peer("127.0.0.2")
        admitted.send(b"hello\x03", port)
        expected = WAITING + b"hello\x10\x03"
        self.assertEqual((yield host.count(len(expected))), expected)
        stranger.send(b"still not for you", port)
        self.assertEqual((yield host.quiet()), b"")
        host.write(b"answer")
        yield self.received(admitted, 6)
        self.assertEqual(admitted.data, b"answer")
        self.assertEqual(stranger.datagrams, [])
        host.write(ETX)
        self.assertEqual((yield host.count(len(CLOSED))), CLOSED)
        # The port is closed with the session: listening again binds it.
        self.assertEqual((yield host.command(b"AT#LUDPSTART")), OK)

    @inlineCallbacks
    def test_listenIPv6(self) -> Generator[Deferred, Any, None]:
        """
        With an IPv6 interface, listening admits a peer on ::1.
        """
        host = yield self.start(interface="::1")
        port = yield self.listenUDP(host, address="::1")
        peer, _ = self.peer("::1")
        peer.send(b"six", port, "::1")
        self.assertEqual((yield host.count(len(WAITING) + 3)), WAITING + b"six")
        host.write(b"back")
        yield self.received(peer, 4)
        self.assertEqual(peer.data, b"back")

    @inlineCallbacks
    def test_listenStop(self) -> Generator[Deferred, Any, None]:
        """
        AT#LUDPSTOP and a bare ETX stop listening with OK, and free the port.
        """
        host = yield self.start()
        port = yield self.listenUDP(host)
        self.assertEqual((yield host.command(b"AT#LUDPSTOP")), OK)
        self.assertTrue(self.bindable(port))
        self.assertEqual((yield host.command(b"AT#LUDPSTART")), OK)
        host.write(ETX)
        self.assertEqual((yield host.result()), OK)
        self.assertTrue(self.bindable(port))
        self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)

    def bindable(self, port: int) -> bool:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    @inlineCallbacks
    def test_busy(self) -> Generator[Deferred, Any, None]:
        """
        While TCP listens, AT#OUDP and AT#LUDPSTART answer 37123; during a UDP session its
        parameters cannot change.
        """
        host = yield self.start()
        port = yield self.listenUDP(host)
        self.assertEqual((yield host.command(b"AT#UDPPORT=7")), cme(37123))
        self.assertEqual((yield host.command(b"AT#LUDPSTOP")), OK)
        tcpPort = yield self.listen(host)
        self.assertTrue(tcpPort)
        self.assertEqual((yield host.command(b"AT#OUDP")), cme(37123))
        self.assertEqual((yield host.command(b"AT#LUDPSTART")), cme(37123))
        self.assertEqual((yield host.command(b"AT#UDPPORT=%d" % (port,))), OK)

    @inlineCallbacks
    def test_portUnreachable(self) -> Generator[Deferred, Any, None]:
        """
        An ICMP port unreachable from the peer does not end the session: once a peer is there,
        bytes flow both ways.
        """
        host = yield self.start()
        port = freeUDPPort("127.0.0.2")
        yield self.configure(host, UDPSERV="127.0.0.2", UDPPORT=port, UDPDLEMODE=1, UDPTXDELAY=0)
        host.write(b"AT#OUDP\r")
        self.assertEqual((yield host.until(WAITING)), WAITING)
        for _ in range(3):
            host.write(b"lost")
            yield deferLater(reactor, 0.1, lambda: None)
        self.assertEqual((yield host.quiet()), b"")
        peer = UDPPeer()
        listening = reactor.listenUDP(port, peer, interface="127.0.0.2")
        self.addCleanup(listening.stopListening)
        host.write(b"found")
        yield self.received(peer, 5)
        self.assertEqual(peer.data, b"found")
        peer.transport.write(b"reply", peer.datagrams[0][1])
        self.assertEqual((yield host.count(5)), b"reply")
        self.assertGreater(self.service.modem.session.peer.refused, 0, "no ICMP error was seen")

    @inlineCallbacks
    def test_flood(self) -> Generator[Deferred, Any, None]:
        """
        A peer flooding 100 MB of datagrams at a host that reads nothing grows the service's
        memory by less than 16 MB, and the session goes on.
        """
        host = yield self.start()
        port = yield self.listenUDP(host)
        peer, _ = self.peer("127.0.0.2")
        peer.send(b"open", port)
        self.assertEqual((yield host.count(len(WAITING) + 4)), WAITING + b"open")
        host.transport.stopReading()
        before = rss()
        chunk = os.urandom(8192)
        sent = 0
        while sent < 100 * (1 << 20):
            for _ in range(64):
                try:
                    peer.transport.write(chunk, ("127.0.0.1", port))
                except OSError:
                    break
                sent += len(chunk)
            yield deferLater(reactor, 0, lambda: None)
        grown = rss() - before
        self.assertLess(grown, 16 << 20, "RSS grew by %d bytes" % (grown,))
        socketPeer = self.service.modem.session.peer
        self.assertGreater(socketPeer.dropped, 0, "no datagram was counted as dropped")
        host.transport.startReading()
        yield host.quiet(1.0)
        host.cursor = len(host.received)
        peer.send(b"still here", port)
        self.assertEqual((yield host.until(b"still here")), b"still here")


def rss() -> int:
    """
    This process's resident memory, in bytes.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")
