"""
ICMP echo (ping) through the reactor: the socket, the packets, and a
reader the reactor calls when a reply is there.

Linux offers two ways to send an echo request: a raw ICMP socket, which
needs root or the C{CAP_NET_RAW} capability, and the unprivileged ICMP
socket (C{SOCK_DGRAM}, C{IPPROTO_ICMP}), open to the groups that
C{net.ipv4.ping_group_range} names.  The raw one is tried first, then the
other; the socket is non-blocking and read only when the reactor says it is
readable, so a ping never holds the other bridges and needs no thread.
"""

import random
import socket
import struct
from typing import Any, Callable, Optional, Tuple

from twisted.internet.interfaces import IReadDescriptor
from twisted.logger import Logger
from zope.interface import implementer

ECHO_REQUEST = 8
ECHO_REPLY = 0

#: What to change when no ICMP socket may be opened.
HOW_TO_ALLOW = (
    "run tcpbridge as root, give it the CAP_NET_RAW capability "
    "(AmbientCapabilities=CAP_NET_RAW in its systemd unit), or let its group "
    "use unprivileged ICMP sockets (sysctl net.ipv4.ping_group_range)"
)

SocketFactory = Callable[[int, int, int], Any]


class NoICMP(Exception):
    """
    Neither a raw nor an unprivileged ICMP socket may be opened.
    """


def openSocket(factory: SocketFactory = socket.socket) -> Tuple[Any, bool]:
    """
    A non-blocking ICMP socket: a raw one where the process may open one,
    else an unprivileged one.

    @return: the socket, and whether it is raw.
    @raise NoICMP: if neither is allowed.
    """
    errors = []
    for kind, raw in ((socket.SOCK_RAW, True), (socket.SOCK_DGRAM, False)):
        try:
            sock = factory(socket.AF_INET, kind, socket.IPPROTO_ICMP)
        except OSError as e:
            errors.append(e.strerror or str(e))
            continue
        sock.setblocking(False)
        return sock, raw
    raise NoICMP("raw ICMP socket: %s; unprivileged ICMP socket: %s" % tuple(errors))


def checksum(data: bytes) -> int:
    """
    The Internet checksum (RFC 1071) of C{data}.
    """
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2,), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echoRequest(ident: int, sequence: int, payload: bytes) -> bytes:
    """
    An ICMP echo request packet.
    """
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, sequence)
    sum_ = checksum(header + payload)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, sum_, ident, sequence) + payload


def parseReply(packet: bytes, raw: bool) -> Optional[Tuple[int, int]]:
    """
    The identifier and sequence number of an echo reply, or L{None} if
    C{packet} is something else.  A raw socket reads the IP header too.
    """
    if raw:
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < 8:
        return None
    kind, code, _, ident, sequence = struct.unpack("!BBHHH", packet[:8])
    if kind != ECHO_REPLY or code != 0:
        return None
    return ident, sequence


@implementer(IReadDescriptor)
class EchoSocket:
    """
    One ICMP socket sending echo requests to one address and reporting the
    sequence number of each reply that is ours.
    """

    log = Logger()

    def __init__(
        self,
        reactor: Any,
        address: str,
        onReply: Callable[[int], None],
        factory: SocketFactory = socket.socket,
    ) -> None:
        """
        @raise NoICMP: if no ICMP socket may be opened.
        """
        self.reactor = reactor
        self.address = address
        self.onReply = onReply
        self.socket, self.raw = openSocket(factory)
        # A raw socket sees every ICMP packet of the box: our identifier
        # tells ours apart.  An unprivileged one gets only its own (the
        # kernel sets the identifier).
        self.ident = random.getrandbits(16)
        self.payload = b"tcpbridge ping " + bytes(range(32))
        reactor.addReader(self)

    def send(self, sequence: int) -> Optional[str]:
        """
        Send echo request C{sequence}; the reason it could not be sent, if
        it could not.
        """
        try:
            self.socket.sendto(echoRequest(self.ident, sequence, self.payload), (self.address, 0))
        except OSError as e:
            return e.strerror or str(e)
        return None

    def fileno(self) -> int:
        return int(self.socket.fileno())

    def logPrefix(self) -> str:
        return "ping"

    def doRead(self) -> None:
        # A bounded batch: a busy box's ICMP traffic (a raw socket sees it
        # all) never keeps the reactor to itself.
        for _ in range(256):
            if self.socket is None:
                return
            try:
                packet, source = self.socket.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # An ICMP error queued on the socket: no reply.
                continue
            reply = parseReply(packet, self.raw)
            if reply is None or source[0] != self.address:
                continue
            ident, sequence = reply
            if self.raw and ident != self.ident:
                continue
            self.onReply(sequence)

    def connectionLost(self, reason: object) -> None:
        self.close()

    def close(self) -> None:
        """
        Stop reading and close the socket.
        """
        if self.socket is not None:
            self.reactor.removeReader(self)
            self.socket.close()
            self.socket = None
