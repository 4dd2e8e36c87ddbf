"""
The producer/consumer pair that joins the serial line to the TCP peer for
one session.

Like L{twisted.protocols.portforward}, each transport is registered as the
other's streaming producer, so when one side's write buffer passes its bound
the other side stops being read and the kernel's own flow control (the TCP
window, the tty buffer and RTS/CTS or XON/XOFF) pushes back.  Unlike
portforward, the pair is DLE-aware, and it can be taken apart while both
transports live on: the serial port outlasts every session, so a pause left
over from one session must never hold the next one.
"""

from typing import Callable, Optional

from twisted.internet.interfaces import IPushProducer, IReactorTime, ITransport
from zope.interface import implementer

from tcpbridge import dle, hub
from tcpbridge.segment import MSS, Segmenter
from tcpbridge.trace import TO_HOST, TO_PEER
from tcpbridge.writethrough import makeWriter, sendSome, writable


def peerWriter(peer: ITransport) -> Callable[[bytes], None]:
    """
    How a session writes to its peer, chosen once: a plain TCP connection
    straight through its socket (see L{makeWriter}), another plain file
    descriptor through its C{writeSomeData} (L{sendSome}), anything else
    (TLS, a datagram adapter) through its own C{write}.
    """
    if not writable(peer):
        return peer.write
    socket = getattr(peer, "socket", None)
    send = socket.send if socket is not None else sendSome(peer)  # type: ignore[arg-type]
    return makeWriter(peer, send, peer.write)  # type: ignore[arg-type]


@implementer(IPushProducer)
class Throttle:
    """
    Pauses and resumes one transport's reading on behalf of one consumer,
    and remembers whether it did, so that it can undo exactly its own pause.
    """

    def __init__(
        self, transport: ITransport, resumed: Optional[Callable[[], None]] = None
    ) -> None:
        """
        @param resumed: called each time the transport is read again.
        """
        self.transport = transport
        self.resumed = resumed
        self.paused = False

    def pauseProducing(self) -> None:
        if not self.paused:
            self.paused = True
            self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        if self.paused:
            self.paused = False
            self.transport.resumeProducing()
            if self.resumed is not None:
                self.resumed()

    def stopProducing(self) -> None:
        # The consumer went away: whatever it paused, it no longer holds.
        self.resumeProducing()

    def guard(self) -> None:
        """
        Hold the transport's reading on its own writing: register as its
        producer, unless something else (a session) already is.
        """
        if self.transport.producer is None:
            self.transport.registerProducer(self, True)

    def lend(self, producer: Optional[IPushProducer]) -> None:
        """
        Let C{producer} be held by the transport's writing in our place
        (L{None}: take the place back).
        """
        if producer is None:
            self.transport.unregisterProducer()
            self.guard()
        else:
            self.unguard()
            self.transport.registerProducer(producer, True)

    def unguard(self) -> None:
        """
        Stop doing what L{guard} does, and undo any pause of ours.
        """
        if self.transport.producer is self:
            self.transport.unregisterProducer()
        self.resumeProducing()


class Splice:
    """
    One session's data path between the host (serial transport) and the
    peer (TCP transport).

    @ivar sentToPeer: bytes of payload written to the peer.
    @ivar sentToHost: bytes of peer payload written to the host (before
        DLE coding).
    """

    def __init__(
        self,
        host: ITransport,
        peer: ITransport,
        dleMode: bool,
        txDelay: float = 0.0,
        clock: Optional[IReactorTime] = None,
        trace: Optional[Callable[[str, bytes], None]] = None,
    ) -> None:
        """
        @param txDelay: TCPTXDELAY in seconds (0: every read leaves at once).
        @param clock: what times the delay (needed when C{txDelay} is set).
        @param trace: records the bytes written to each side (see
            L{tcpbridge.trace}).
        """
        self.trace = trace
        self.host = host
        self.peer = peer
        self.dleMode = dleMode
        self.decoder = dle.Decoder()
        self.sentToPeer = 0
        self.sentToHost = 0
        if txDelay > 0 and clock is None:
            raise ValueError("a TCPTXDELAY needs a clock")
        # A peer that is not a TCP stream (a UDP socket) says how large a
        # unit it sends.
        size = getattr(peer, "segmentSize", MSS)
        self.segmenter = Segmenter(self._toPeer, txDelay, clock, size)  # type: ignore[arg-type]
        # Chosen once, not per chunk: with no delay every read leaves at
        # once, and how the peer is written.
        self._gather = txDelay > 0
        self._writePeer = peerWriter(peer)
        # The segmenter does the gathering: the kernel must not add its own
        # (Nagle) delay on top of it.
        handle = getattr(peer, "setTcpNoDelay", None)
        if handle is not None:
            try:
                handle(True)
            except Exception:
                pass
        # Both descriptors are read through the hub from now on.
        hub.adopt(host)
        hub.adopt(peer)
        self._hostThrottle = Throttle(host)
        self._peerThrottle = Throttle(peer)
        peer.registerProducer(self._hostThrottle, True)
        host.registerProducer(self._peerThrottle, True)
        self._spliced = True

    def fromHost(self, data: bytes) -> Optional[bytes]:
        """
        Pass bytes the host sent on to the peer.

        @return: L{None} while the session goes on; after the host's closing
            ETX (DLEMODE 1), the bytes that followed it.
        """
        rest: Optional[bytes] = None
        if self.dleMode:
            data, rest = self.decoder.feed(data)
        if data:
            if self._gather:
                self.segmenter.write(data)
            else:
                # _toPeer, one call less for every read at line rate.
                self.sentToPeer += len(data)
                if self.trace is not None:
                    self.trace(TO_PEER, data)
                self._writePeer(data)
        return rest

    def _toPeer(self, data: bytes) -> None:
        self.sentToPeer += len(data)
        if self.trace is not None:
            self.trace(TO_PEER, data)
        self._writePeer(data)

    def flush(self) -> None:
        """
        Send the host bytes still gathering (the host is closing).
        """
        self.segmenter.flush()

    def fromPeer(self, data: bytes) -> None:
        """
        Pass bytes the peer sent on to the host, DLE-coded in DLEMODE 1.
        """
        self.sentToHost += len(data)
        if self.dleMode:
            data = dle.encode(data)
        if self.trace is not None:
            self.trace(TO_HOST, data)
        self.host.write(data)

    def unsplice(self) -> None:
        """
        Take the pair apart: neither transport is the other's producer any
        more, and the serial port is read again if this session paused it.

        Producers are unregistered before any C{loseConnection}, as Twisted
        needs (its issues 5344 and 6461).
        """
        self.segmenter.discard()
        if self._spliced:
            self._spliced = False
            self.peer.unregisterProducer()
            self.host.unregisterProducer()
            # The serial line outlives the session: the reactor reads it
            # again.  (The peer stays in the hub until it is closed.)
            hub.release(self.host)
        self._hostThrottle.resumeProducing()
