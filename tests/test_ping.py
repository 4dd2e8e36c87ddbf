"""
Tests for L{tcpbridge.services.ping} and L{tcpbridge.icmp}: C{AT#PING}
driven from the serial side, with a fake clock and fake ICMP sockets.
"""

import socket
import struct
from typing import Any, List, Optional, Set, Tuple

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.config import BridgeConfig
from tcpbridge.icmp import ECHO_REPLY, checksum, echoRequest, openSocket, parseReply
from tcpbridge.modem import IDLE, Modem
from tests.modemside import SerialSide
from tests.test_commands import NamelessResolver

OK = b"\r\nOK\r\n"


def alive(ms: int, target: str = "127.0.0.1") -> bytes:
    return b'\r\n"%s" is alive : time = %d ms\r\n' % (target.encode(), ms)


def noAnswer(target: str = "127.0.0.1") -> bytes:
    return b'\r\nNO answer from "%s"\r\n' % (target.encode(),)


class FakeICMP:
    """
    An ICMP socket that records the requests sent and gives back the
    replies a test queues.
    """

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.raw = kind == socket.SOCK_RAW
        self.sent: List[Tuple[bytes, Any]] = []
        self.inbox: List[Tuple[bytes, Any]] = []
        self.closed = False

    def setblocking(self, flag: bool) -> None:
        assert not flag

    def fileno(self) -> int:
        return 42

    def sendto(self, packet: bytes, address: Any) -> None:
        self.sent.append((packet, address))

    def recvfrom(self, size: int) -> Tuple[bytes, Any]:
        if not self.inbox:
            raise BlockingIOError()
        return self.inbox.pop(0)

    def close(self) -> None:
        self.closed = True

    def reply(self, ident: Optional[int] = None) -> None:
        """
        Queue the reply to the last request, as the socket reads it.
        """
        request, address = self.sent[-1]
        _, _, _, sentIdent, sequence = struct.unpack("!BBHHH", request[:8])
        body = struct.pack(
            "!BBHHH", ECHO_REPLY, 0, 0, sentIdent if ident is None else ident, sequence
        ) + request[8:]
        if self.raw:
            body = b"\x45" + b"\0" * 19 + body
        self.inbox.append((body, address))


class FakeSockets:
    """
    A socket factory that allows only the kinds of ICMP socket given.
    """

    def __init__(self, allowed: Set[int]) -> None:
        self.allowed = allowed
        self.made: List[FakeICMP] = []
        self.asked: List[int] = []

    def __call__(self, family: int, kind: int, protocol: int) -> FakeICMP:
        assert (family, protocol) == (socket.AF_INET, socket.IPPROTO_ICMP)
        self.asked.append(kind)
        if kind not in self.allowed:
            raise PermissionError(1, "Operation not permitted")
        sock = FakeICMP(kind)
        self.made.append(sock)
        return sock


class PingTests(SerialSide, SynchronousTestCase):
    """
    C{AT#PING} with a fake clock and fake ICMP sockets.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.sockets = FakeSockets({socket.SOCK_RAW, socket.SOCK_DGRAM})
        self.modem.services["ping"].socketFactory = self.sockets
        self.command(b"ATE0")
        self.command(b"AT+CMEE=1")

    def start(self, count: int = 4, remote: str = "127.0.0.1") -> Optional[FakeICMP]:
        self.assertEqual(self.command(b'AT#PINGREMOTE="%s";#PINGNUM=%d' % (remote.encode(), count)), OK)
        self.assertEqual(self.command(b"AT#PING"), b"")
        return self.sockets.made[-1] if self.sockets.made else None

    def answer(self, sock: FakeICMP, seconds: float, ident: Optional[int] = None) -> bytes:
        """
        Let C{seconds} pass, then the reply to the last request arrives.
        """
        self.reactor.advance(seconds)
        sock.reply(ident)
        [reader] = self.reactor.readers
        reader.doRead()
        return self.written()

    def test_raw(self) -> None:
        """
        With the privilege, a raw socket pings: one request per PINGDELAY, one is-alive line per
        reply with its time, then OK, and the socket is closed.
        """
        sock = self.start()
        assert sock is not None
        self.assertEqual(self.sockets.asked, [socket.SOCK_RAW])
        for i in range(3):
            self.assertEqual(self.answer(sock, 0.0042), alive(5))
            self.assertEqual(len(sock.sent), i + 1)
            self.reactor.advance(1 - 0.0042)
        self.assertEqual(self.answer(sock, 0.012), alive(12) + OK)
        self.assertEqual(len(sock.sent), 4)
        self.assertEqual(sock.sent[0][1], ("127.0.0.1", 0))
        self.assertTrue(sock.closed)
        self.assertEqual(list(self.reactor.readers), [])
        self.assertEqual(self.modem.state, IDLE)

    def test_othersIgnored(self) -> None:
        """
        On a raw socket, a reply with another identifier (another program's ping) is not ours.
        """
        sock = self.start(count=1)
        assert sock is not None
        request = sock.sent[-1][0]
        ident = struct.unpack("!H", request[4:6])[0]
        self.assertEqual(self.answer(sock, 0.001, ident=ident ^ 1), b"")
        self.assertEqual(self.answer(sock, 0.001), alive(2) + OK)

    def test_unprivileged(self) -> None:
        """
        Without raw sockets, the unprivileged ICMP socket pings; the identifier the kernel sets is
        accepted.
        """
        self.sockets.allowed = {socket.SOCK_DGRAM}
        sock = self.start(count=1)
        assert sock is not None
        self.assertEqual(self.sockets.asked, [socket.SOCK_RAW, socket.SOCK_DGRAM])
        self.assertEqual(self.answer(sock, 0.003, ident=4321), alive(3) + OK)

    def test_notAllowed(self) -> None:
        """
        With neither socket allowed, the host gets a CME error and the log says what to change.
        """
        self.sockets.allowed = set()
        self.command(b'AT#PINGREMOTE="127.0.0.1"')
        with capturedLogs() as events:
            self.assertEqual(self.command(b"AT#PING"), b"\r\n#CME ERROR: 3\r\n")
        self.assertEqual(self.sockets.made, [])
        text = " ".join(e.get("log_format", "").format(**e) for e in events)
        self.assertIn("net.ipv4.ping_group_range", text)
        self.assertIn("CAP_NET_RAW", text)
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.command(b"AT"), OK)

    def test_noAnswer(self) -> None:
        """
        A request with no reply within PINGDELAY gets a NO answer line.
        """
        self.command(b"AT#PINGDELAY=2")
        sock = self.start(count=2)
        assert sock is not None
        self.reactor.advance(1.9)
        self.assertEqual(self.written(), b"")
        self.reactor.advance(0.1)
        self.assertEqual(self.written(), noAnswer())
        self.assertEqual(len(sock.sent), 2)
        self.reactor.advance(2)
        self.assertEqual(self.written(), noAnswer() + OK)
        self.assertTrue(sock.closed)

    def test_lateReply(self) -> None:
        """
        A reply that comes after its time-out counts for nothing.
        """
        sock = self.start(count=2)
        assert sock is not None
        self.reactor.advance(1)
        self.assertEqual(self.written(), noAnswer())
        first = sock.sent[0]
        sock.sent.append(first)
        self.assertEqual(self.answer(sock, 0.1), b"")

    def test_stopByETX(self) -> None:
        """
        PINGNUM 0 pings until a bare ETX, which stops it at once with OK.
        """
        sock = self.start(count=0)
        assert sock is not None
        for _ in range(10):
            self.assertEqual(self.answer(sock, 0.001), alive(1))
            self.reactor.advance(0.999)
        self.assertEqual(len(sock.sent), 11)
        self.assertEqual(self.send(b"\x03"), OK)
        self.assertTrue(sock.closed)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.command(b"AT"), OK)

    def test_unresolved(self) -> None:
        """
        A PINGREMOTE that does not resolve answers 38027 and opens no socket.
        """
        self.reactor.nameResolver = NamelessResolver(synchronous=True)
        self.command(b'AT#PINGREMOTE="nowhere.invalid"')
        self.assertEqual(self.command(b"AT#PING"), b"\r\n#CME ERROR: 38027\r\n")
        self.assertEqual(self.sockets.asked, [])

    def test_notSet(self) -> None:
        """
        AT#PING with no PINGREMOTE answers 34882.
        """
        self.assertEqual(self.command(b"AT#PING"), b"\r\n#CME ERROR: 34882\r\n")

    def test_busy(self) -> None:
        """
        AT#PING while TCP listens answers 37123.
        """
        self.command(b"AT#TCPPORT=2323")
        self.command(b"AT#LTCPSTART")
        self.command(b'AT#PINGREMOTE="127.0.0.1"')
        self.assertEqual(self.command(b"AT#PING"), b"\r\n#CME ERROR: 37123\r\n")

    def test_vping(self) -> None:
        """
        AT#VPING lists the ping parameters.
        """
        self.assertEqual(
            self.command(b"AT#VPING"),
            b'\r\n#PINGREMOTE: ""\r\n\r\n#PINGNUM: 4\r\n\r\n#PINGDELAY: 1\r\n' + OK,
        )


class ICMPTests(SynchronousTestCase):
    """
    Tests for the packets and the choice of socket.
    """

    def test_checksum(self) -> None:
        """
        A packet with its checksum in place sums to zero.
        """
        packet = echoRequest(0x1234, 7, b"odd payload")
        self.assertEqual(checksum(packet), 0)

    def test_parse(self) -> None:
        """
        Echo replies are recognised with or without the IP header; requests are not replies.
        """
        request = echoRequest(5, 6, b"x")
        reply = bytes([ECHO_REPLY]) + request[1:]
        self.assertEqual(parseReply(reply, raw=False), (5, 6))
        self.assertEqual(parseReply(b"\x45" + b"\0" * 19 + reply, raw=True), (5, 6))
        self.assertIsNone(parseReply(request, raw=False))
        self.assertIsNone(parseReply(b"\0\0", raw=False))

    def test_rawFirst(self) -> None:
        """
        A raw socket is opened where allowed, else the unprivileged one.
        """
        both = FakeSockets({socket.SOCK_RAW, socket.SOCK_DGRAM})
        self.assertEqual(openSocket(both)[1], True)
        dgram = FakeSockets({socket.SOCK_DGRAM})
        self.assertEqual(openSocket(dgram)[1], False)
