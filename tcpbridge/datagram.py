"""
A UDP socket as the peer of a data-mode session.

The session (L{tcpbridge.session.Session}) is written for a stream
transport.  L{DatagramPeer} makes one UDP socket look like one: what the
session writes leaves as datagrams of at most the bridge's C{udp_payload}
bytes (the session's gathering decides when, see L{tcpbridge.segment}),
each datagram received is handed over whole, and closing it closes the
socket and tells the session, as a peer's close would.

UDP has no flow control to push back on a peer: while the host's side is
paused, datagrams wait in a buffer of C{udp_buffer} bytes, and those that
do not fit are dropped and counted, so memory stays bounded whatever the
peer sends.  The socket is still read while paused, which is what lets the
drops be counted instead of vanishing in the kernel.
"""

import errno
import socket
from collections import deque
from typing import Any, Callable, Deque, Optional, Tuple

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall, IHalfCloseableDescriptor, IPushProducer
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.udp import Port
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

#: Seconds before a datagram the kernel could not take is tried again
#: (the host is held meanwhile).
RETRY = 0.01

#: Bytes read for one datagram: the largest UDP payload.
RECEIVE_SIZE = 65536

Address = Tuple[str, int]


@implementer(IHalfCloseableDescriptor)
class _Port(Port):
    """
    A UDP port that outlives the ICMP errors its peer sends.

    On a connected UDP socket the kernel reports an ICMP "port unreachable"
    as a socket error, which epoll signals alone, as it signals a hang-up;
    the reactor would then close the port.  A UDP socket cannot hang up:
    the error is taken (and reported to the protocol) and reading goes on.
    """

    def readConnectionLost(self, reason: Failure) -> None:
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code and self._connectedAddr:
            self.protocol.connectionRefused()
        self.startReading()

    def writeConnectionLost(self, reason: Failure) -> None:
        pass


def listenUDP(reactor: Any, port: int, protocol: DatagramProtocol, interface: str = "") -> Port:
    """
    Bind a UDP socket for C{protocol} (as C{reactor.listenUDP} does), one
    that ICMP errors do not close.

    @raise twisted.internet.error.CannotListenError: if it cannot bind.
    """
    udp = _Port(port, protocol, interface, RECEIVE_SIZE, reactor)
    udp.startListening()
    return udp


@implementer(IPushProducer)
class DatagramPeer(DatagramProtocol):
    """
    One UDP socket: first, while listening, each datagram goes to
    C{unsolicited}; once L{attach}ed to a session, the socket is connected
    to one peer and carries the session's data.

    @ivar session: the session, once attached (it gets C{peerData} and
        C{peerLost}).
    @ivar peer: the peer's address, once attached.
    @ivar segmentSize: the largest datagram sent (the session gathers host
        bytes into datagrams of this size).
    @ivar dropped: datagrams dropped because the host's side was full.
    @ivar droppedBytes: their payload bytes.
    @ivar foreign: datagrams from another address dropped during the
        session.
    @ivar refused: ICMP "port unreachable" reports received.
    """

    log = Logger()
    noisy = False

    def __init__(
        self,
        reactor: Any,
        bridge: str,
        segmentSize: int,
        bufferSize: int,
        unsolicited: Optional[Callable[[bytes, Address], None]] = None,
        counters: Any = None,
    ) -> None:
        """
        @param counters: the bridge's L{tcpbridge.counters.Counters}, which
            count the datagrams dropped.
        """
        self.reactor = reactor
        self.counters = counters
        self.bridge = bridge
        self.segmentSize = segmentSize
        self.bufferSize = bufferSize
        self.unsolicited = unsolicited
        self.session: Any = None
        self.peer: Optional[Address] = None
        self.producer: Any = None
        self.paused = False
        self.closed = False
        self.dropped = self.droppedBytes = self.foreign = self.refused = 0
        self._queue: Deque[bytes] = deque()
        self._queued = 0
        self._unsent: Deque[bytes] = deque()
        self._holding = False
        self._retry: Optional[IDelayedCall] = None
        self._refusedNow = False

    def attach(self, session: Any, peer: Address) -> None:
        """
        From now on the socket (connected to C{peer}) carries C{session}'s
        data, to and from C{peer} only.
        """
        self.peer = peer
        self.session = session

    # -- receiving ---------------------------------------------------------

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if self.closed:
            return
        if self.session is None:
            if self.unsolicited is not None:
                self.unsolicited(data, tuple(addr[:2]))
            return
        if tuple(addr[:2]) != self.peer:
            # Queued before the socket was connected to the peer.
            self.foreign += 1
            self._countDrop()
            return
        if self.paused or self._queue:
            if self._queued + len(data) > self.bufferSize:
                self.dropped += 1
                self.droppedBytes += len(data)
                self._countDrop()
                return
            self._queue.append(data)
            self._queued += len(data)
            return
        self.session.peerData(data)

    def _countDrop(self) -> None:
        if self.counters is not None:
            self.counters.udpDropped += 1

    def connectionRefused(self) -> None:
        # An ICMP "port unreachable": UDP has no connection to end.
        self._refusedNow = True
        self.refused += 1
        if self.refused == 1:
            self.log.info(
                "{bridge}: UDP peer {peer} reports its port unreachable; the session goes on",
                bridge=self.bridge,
                peer=self.describe(),
            )

    def pauseProducing(self) -> None:
        """
        The host's side is full: buffer (within bounds) what arrives.
        """
        self.paused = True

    def resumeProducing(self) -> None:
        """
        The host's side takes data again: hand over what waited.
        """
        self.paused = False
        while self._queue and not self.paused and not self.closed:
            data = self._queue.popleft()
            self._queued -= len(data)
            self.session.peerData(data)

    def stopProducing(self) -> None:
        self.loseConnection()

    # -- sending (the transport the session writes to) -------------------------

    def write(self, data: bytes) -> None:
        """
        Send C{data} as datagrams of at most C{segmentSize} bytes.
        """
        if self.closed or not data:
            return
        size = self.segmentSize
        for start in range(0, len(data), size):
            self._unsent.append(data[start : start + size])
        if self._retry is None:
            self._send()

    def writeSequence(self, data: Any) -> None:
        self.write(b"".join(data))

    def _send(self) -> None:
        self._retry = None
        while self._unsent and not self.closed:
            datagram = self._unsent[0]
            try:
                self._refusedNow = False
                self.transport.write(datagram)
                if self._refusedNow:
                    # The kernel reported an earlier ICMP error instead of
                    # sending this one: send it again.
                    self._refusedNow = False
                    self.transport.write(datagram)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.ENOBUFS):
                    raise
                # The kernel's buffer is full: hold the host until it drains.
                if not self._holding and self.producer is not None:
                    self._holding = True
                    self.producer.pauseProducing()
                self._retry = self.reactor.callLater(RETRY, self._send)
                return
            self._unsent.popleft()
        if self._holding:
            self._holding = False
            if self.producer is not None:
                self.producer.resumeProducing()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        if self._holding and self.producer is not None:
            self._holding = False
            self.producer.resumeProducing()
        self.producer = None

    # -- closing -----------------------------------------------------------------

    def loseConnection(self) -> None:
        """
        Close the socket (what could not be sent yet is tried once more);
        the session is told once it is closed.
        """
        if self.closed:
            return
        if self._retry is not None:
            self._retry.cancel()
            self._send()
        self.closed = True
        self._unsent.clear()
        self._queue.clear()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if self.session is not None and (self.dropped or self.foreign or self.refused):
            self.log.info(
                "{bridge}: UDP session with {peer}: {dropped} datagrams ({bytes} bytes) dropped "
                "because the host did not read, {foreign} from other addresses dropped, "
                "{refused} port-unreachable reports",
                bridge=self.bridge,
                peer=self.describe(),
                dropped=self.dropped,
                bytes=self.droppedBytes,
                foreign=self.foreign,
                refused=self.refused,
            )
        port = self.transport
        closing = port.stopListening() if port is not None else None
        if self.session is not None:
            session = self.session
            reason = Failure(ConnectionDone("UDP socket closed"))
            if closing is not None:
                closing.addCallback(lambda _: session.peerLost(self, reason))
            else:
                session.peerLost(self, reason)

    abortConnection = loseConnection

    def getPeer(self) -> Any:
        if self.peer is None:
            return None
        host, port = self.peer
        return (IPv6Address if ":" in host else IPv4Address)("UDP", host, port)

    def getHost(self) -> Any:
        return self.transport.getHost() if self.transport is not None else None

    def describe(self) -> str:
        """
        The peer as the log names it.
        """
        if self.peer is None:
            return "?"
        host, port = self.peer
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
