"""
Flow control on the real reactor: backpressure through the
real L{BridgeService} on a C{pty:} device, with the test playing the host on
the pty link and the peer as a loopback TCP client; and the gathering of
host bytes into TCP segments (TCPTXDELAY) on a deterministic clock.

Memory is judged by what the service itself buffers (the write buffers of
its serial and TCP transports, and how much it has taken in from the
flooding side), not by the process size: the test process holds the
flood's data too.
"""

import hashlib
import os
from typing import Any, Callable, Generator, List, Tuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import Clock, LoopingCall, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tcpbridge import dle, hub
from tcpbridge.segment import MSS, Segmenter
from tests.hostside import BridgeHarness, Flood, Receiver, buffered, poll

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n\r\nOK\r\n"
ETX = b"\x03"

MEGABYTE = 1 << 20

#: Most bytes the service may hold in any one of its buffers, or take in from
#: a side whose data it cannot pass on, while the other side is not reading.
BOUND = MEGABYTE

#: Most bytes the kernel may take from a flooding sender on the way (socket
#: buffers, the tty queue) before the sender itself must hold the rest.
KERNEL_SLACK = 8 * MEGABYTE

#: Seconds for the pipeline to fill once the flood starts (at least; see
#: L{settle}), and for which the buffers are then watched.
SETTLE = 0.2
WATCH = 0.5

#: Most seconds the pipeline may take to fill.
FILL_LIMIT = 10.0

#: Seconds one flood may take to arrive once the reader resumes.
BULK_WAIT = 20.0

#: Maps each byte value to DLE or ETX, for a payload that DLE coding doubles.
_DENSE = bytes(0x10 if i % 2 else 0x03 for i in range(256))


def dense(n: int) -> bytes:
    """
    C{n} random bytes, each a DLE or an ETX.
    """
    return os.urandom(n).translate(_DENSE)


def digest(data: bytes) -> str:
    """
    A short fingerprint of C{data}, for comparing floods without printing them.
    """
    return "%d bytes, sha256 %s" % (len(data), hashlib.sha256(data).hexdigest()[:16])


def watch(
    seconds: float, probe: Callable[[], Tuple[int, ...]]
) -> "Deferred[List[Tuple[int, ...]]]":
    """
    Call C{probe} every 10 ms for C{seconds}; fire with every result.
    """
    samples: List[Tuple[int, ...]] = []
    loop = LoopingCall(lambda: samples.append(probe()))
    done = loop.start(0.01)
    reactor.callLater(seconds, loop.stop)
    return done.addCallback(lambda _: samples)


@inlineCallbacks
def settle(probe: Callable[[], int]) -> Generator[Deferred, Any, None]:
    """
    Wait at least L{SETTLE} seconds, then until C{probe} (bytes the service
    took in) stops growing for 50 ms: the kernel's buffers on the way are
    full.  How long that takes depends on the machine and on the codec (the
    pure-Python decoder fills them more slowly); at most L{FILL_LIMIT}.
    """
    yield deferLater(reactor, SETTLE, lambda: None)
    deadline = reactor.seconds() + FILL_LIMIT
    last = probe()
    while reactor.seconds() < deadline:
        yield deferLater(reactor, 0.05, lambda: None)
        now = probe()
        if now == last:
            return
        last = now


class BackpressureTests(TestCase, BridgeHarness):
    """
    A side that floods while the other does not read makes the service stop
    reading it, so the service's buffers stay small, and nothing is lost or
    reordered once the reader resumes.
    """

    timeout = 60

    @inlineCallbacks
    def open(self) -> Generator[Deferred, Any, Tuple[Any, Receiver, Receiver, int]]:
        """
        A bridge with a session open (DLEMODE 1, no TCPTXDELAY); return the
        service, the host, the peer and the port listened on.
        """
        service, host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        return service, host, peer, port

    def readingSerial(self, service: Any) -> bool:
        """
        Whether the service is reading its serial line.
        """
        return hub.reading(service.transport)

    @inlineCallbacks
    def floodToHost(self, payload: bytes) -> Generator[Deferred, Any, None]:
        """
        The peer sends C{payload} at once while the host reads nothing; the
        service must hold back, then deliver it all, DLE-coded, in order.
        """
        service, host, peer, port = yield self.open()
        modem = service.modem
        splice = modem.session.splice
        serialSide, peerSide = service.transport, modem.session.peer
        encoded = dle.encode(payload)
        host.transport.pauseProducing()
        peer.write(payload)
        yield settle(lambda: splice.sentToHost)
        samples = yield watch(
            WATCH,
            lambda: (
                buffered(serialSide),
                buffered(peerSide),
                splice.sentToHost,
                buffered(peer.transport),
            ),
        )
        serial, tcp, taken, held = zip(*samples)
        self.assertLess(max(serial), BOUND, "serial write buffer of the service")
        self.assertLess(max(tcp), BOUND, "TCP write buffer of the service")
        self.assertLess(max(taken), BOUND, "bytes the service took from the peer")
        self.assertLess(taken[-1] - taken[0], BOUND, "the service kept reading the peer")
        self.assertGreater(
            min(held), len(payload) - KERNEL_SLACK, "the peer's sending was not held back"
        )

        host.transport.resumeProducing()
        received = yield host.count(len(encoded), BULK_WAIT)
        self.assertEqual(digest(received), digest(encoded))
        self.assertEqual((yield host.quiet(0.1)), b"")
        self.assertEqual(splice.sentToHost, len(payload))

    @inlineCallbacks
    def floodToPeer(self, payload: bytes) -> Generator[Deferred, Any, None]:
        """
        The host sends C{payload}, DLE-coded, at once while the peer reads
        nothing; the service must hold back, then deliver it all in order.
        """
        service, host, peer, port = yield self.open()
        modem = service.modem
        splice = modem.session.splice
        serialSide, peerSide = service.transport, modem.session.peer
        encoded = dle.encode(payload)
        peer.transport.pauseProducing()
        host.write(encoded)
        yield settle(lambda: splice.sentToPeer)
        samples = yield watch(
            WATCH,
            lambda: (
                buffered(serialSide),
                buffered(peerSide),
                splice.sentToPeer,
                buffered(host.transport),
                int(self.readingSerial(service)),
            ),
        )
        serial, tcp, taken, held, reading = zip(*samples)
        self.assertLess(max(serial), BOUND, "serial write buffer of the service")
        self.assertLess(max(tcp), BOUND, "TCP write buffer of the service")
        self.assertLess(taken[-1] - taken[0], BOUND, "the service kept reading the serial line")
        self.assertLess(max(taken), len(payload) - KERNEL_SLACK, "the service read on")
        # The kernel may take a little more now and then, and the service
        # then reads a little: but not as a rule.
        self.assertLess(sum(reading), len(reading) // 5, "the serial line was read on")
        self.assertGreater(
            min(held), len(encoded) - 2 * KERNEL_SLACK, "the host's sending was not held back"
        )

        peer.transport.resumeProducing()
        received = yield peer.count(len(payload), BULK_WAIT)
        self.assertEqual(digest(received), digest(payload))
        self.assertEqual((yield peer.quiet(0.1)), b"")
        self.assertTrue(self.readingSerial(service), "the serial line is still not read")

    def test_peerFloodHeldWhileHostPaused(self) -> "Deferred[None]":
        """
        32 MB from a peer while the host reads nothing keep the service's buffers under 1 MB and the
        rest in the peer, then all arrive in order.
        """
        return self.floodToHost(os.urandom(32 * MEGABYTE))

    def test_hostFloodHeldWhilePeerPaused(self) -> "Deferred[None]":
        """
        32 MB from the host while the peer reads nothing keep the service's buffers under 1 MB and
        the rest in the host, then all arrive in order.
        """
        return self.floodToPeer(os.urandom(32 * MEGABYTE))

    def test_denseFloodToHost(self) -> "Deferred[None]":
        """
        A peer flood of only DLE and ETX bytes, which DLE coding doubles, is held back the same.
        """
        return self.floodToHost(dense(16 * MEGABYTE))

    def test_denseFloodToPeer(self) -> "Deferred[None]":
        """
        A host flood of escaped DLE and ETX bytes only, twice the size of its payload, is held back
        just the same.
        """
        return self.floodToPeer(dense(16 * MEGABYTE))

    @inlineCallbacks
    def test_commandAnswersNotRead(self) -> Generator[Deferred, Any, None]:
        """
        A host that sends commands in command mode and reads none of the answers cannot make the
        service buffer them without bound.
        """
        service, host = self.startBridge()
        yield self.hello(host)
        answer = yield host.command(b"AT#VALL")
        self.assertTrue(answer.endswith(OK))
        lines = 10000
        host.transport.pauseProducing()
        flood = Flood(reactor, host.transport, b"AT#VALL\r" * lines)
        self.addCleanup(flood.stop)
        yield deferLater(reactor, SETTLE, lambda: None)
        samples = yield watch(WATCH, lambda: (buffered(service.transport),))
        # Every answer must still come, in order, once the host reads.
        host.transport.resumeProducing()
        answers = yield host.count(len(answer) * lines, BULK_WAIT)
        self.assertEqual(answers, answer * lines)
        self.assertLess(max(s[0] for s in samples), BOUND, "serial write buffer of the service")


    @inlineCallbacks
    def test_pauseDoesNotOutliveSession(self) -> Generator[Deferred, Any, None]:
        """
        A session that ends while backpressure holds the serial line leaves the line read again, so
        the next session carries the host's data.
        """
        service, host, peer, port = yield self.open()
        peer.transport.pauseProducing()
        flood = Flood(reactor, host.transport, b"x" * (64 * MEGABYTE))
        self.addCleanup(flood.stop)
        yield poll(
            reactor, lambda: not self.readingSerial(service), "the serial line to be held back"
        )
        self.assertFalse(flood.done.called, "the flood was never held back")

        # The peer goes away while the serial line is held back.
        peer.transport.abortConnection()
        self.assertEqual((yield host.until(CLOSED)), ETX + CLOSED)
        flood.stop()
        # What the host had left of its flood is now command-mode input:
        # one overlong line at most, ended here.
        host.write(b"\rAT\r")
        self.assertIn((yield host.until(OK)), (OK, ERROR + OK))
        self.assertTrue(self.readingSerial(service), "the serial line is still held back")

        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)
        again = yield self.session(host, port, "127.0.0.4")
        host.write(b"after the pause")
        self.assertEqual((yield again.count(15)), b"after the pause")
        again.write(b"and back")
        self.assertEqual((yield host.count(8)), b"and back")

    @inlineCallbacks
    def test_hostCloseWhilePeerHoldsBack(self) -> Generator[Deferred, Any, None]:
        """
        A host that closes while the peer is not reading has all its data delivered once the peer
        reads, and the next session flows both ways.
        """
        service, host, peer, port = yield self.open()
        peer.transport.pauseProducing()
        payload = os.urandom(16 * MEGABYTE)
        host.write(dle.encode(payload) + ETX)
        yield poll(
            reactor, lambda: not self.readingSerial(service), "the serial line to be held back"
        )
        self.assertEqual((yield host.quiet(0.2)), b"", "the close was reported early")

        peer.transport.resumeProducing()
        received = yield peer.count(len(payload), BULK_WAIT)
        self.assertEqual(digest(received), digest(payload))
        yield peer.closed()
        self.assertEqual((yield host.until(CLOSED)), CLOSED)

        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)
        again = yield self.session(host, port, "127.0.0.4")
        host.write(b"next session")
        self.assertEqual((yield again.count(12)), b"next session")
        again.write(b"and back")
        self.assertEqual((yield host.count(8)), b"and back")


class SegmentTests(SynchronousTestCase):
    """
    Tests for L{Segmenter}: host bytes leave in full segments at once, or
    TCPTXDELAY after the first byte of a partial one.
    """

    def make(self, delay: float) -> Tuple[Segmenter, Clock, List[bytes]]:
        """
        A segmenter with C{delay}, on a fresh clock, recording its writes.
        """
        clock = Clock()
        writes: List[bytes] = []
        return Segmenter(writes.append, delay, clock), clock, writes

    def test_fullSegmentAtOnce(self) -> None:
        """
        A full segment leaves at once and starts no timer.
        """
        segmenter, clock, writes = self.make(0.1)
        segmenter.write(b"s" * MSS)
        self.assertEqual(writes, [b"s" * MSS])
        self.assertEqual(segmenter.held, 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_fullSegmentsAndRemainder(self) -> None:
        """
        Of a write longer than a segment, the full segments leave at once and the rest after the
        delay.
        """
        segmenter, clock, writes = self.make(0.1)
        data = os.urandom(2 * MSS + 100)
        segmenter.write(data)
        self.assertEqual(b"".join(writes), data[: 2 * MSS])
        self.assertEqual(segmenter.held, 100)
        clock.advance(0.1)
        self.assertEqual(b"".join(writes), data)

    def test_partialAfterDelayExactly(self) -> None:
        """
        A partial segment leaves exactly the delay after its first byte, not a millisecond sooner.
        """
        segmenter, clock, writes = self.make(0.1)
        segmenter.write(b"few")
        self.assertEqual(writes, [])
        clock.advance(0.1 - 0.001)
        self.assertEqual(writes, [])
        clock.advance(0.001)
        self.assertEqual(writes, [b"few"])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_delayFromFirstByte(self) -> None:
        """
        Bytes added to a partial segment do not push its departure back.
        """
        segmenter, clock, writes = self.make(0.1)
        segmenter.write(b"a")
        clock.advance(0.06)
        segmenter.write(b"b")
        clock.advance(0.04)
        self.assertEqual(writes, [b"ab"])

    def test_filledSegmentTimerSendsNothing(self) -> None:
        """
        A partial segment that fills leaves at once, and its timer sends nothing later.
        """
        segmenter, clock, writes = self.make(0.1)
        segmenter.write(b"a" * (MSS - 1))
        segmenter.write(b"b")
        self.assertEqual(writes, [b"a" * (MSS - 1) + b"b"])
        clock.advance(1)
        self.assertEqual(len(writes), 1)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_restAfterFullSegmentWaitsItsOwnDelay(self) -> None:
        """
        The bytes left over when a segment fills wait the whole delay from their own arrival.
        """
        segmenter, clock, writes = self.make(0.1)
        segmenter.write(b"a" * (MSS - 1))
        clock.advance(0.05)
        segmenter.write(b"bc")
        self.assertEqual(writes, [b"a" * (MSS - 1) + b"b"])
        clock.advance(0.05)
        self.assertEqual(len(writes), 1, "the rest left early")
        clock.advance(0.05)
        self.assertEqual(writes[1:], [b"c"])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_oneTimerPerDelayPeriod(self) -> None:
        """
        A steady stream of small reads that fills many segments sets at most two timers per delay
        period, not one per read or per segment.
        """
        segmenter, clock, writes = self.make(0.1)
        timers = []
        callLater = clock.callLater

        def counting(*args: Any, **kwargs: Any) -> Any:
            timers.append(args[0])
            return callLater(*args, **kwargs)

        clock.callLater = counting  # type: ignore[method-assign]
        # One second of 64-byte reads at 256 KB/s: some 180 segments fill.
        data = os.urandom(64 * 4000)
        for i in range(0, len(data), 64):
            segmenter.write(data[i : i + 64])
            clock.advance(1 / 4000)
        clock.advance(0.1)
        self.assertEqual(b"".join(writes), data)
        self.assertLessEqual(len(timers), 2 * 10 + 2)

    def test_zeroDelaySendsAtOnce(self) -> None:
        """
        With a delay of 0 every write leaves at once, whatever its size.
        """
        segmenter, clock, writes = self.make(0)
        for piece in [b"a", b"bc", b"d" * (MSS + 1)]:
            segmenter.write(piece)
            self.assertEqual(writes[-1], piece)
        self.assertEqual(len(writes), 3)
        self.assertEqual(segmenter.held, 0)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_typingGathered(self) -> None:
        """
        A host typing one byte every 10 ms with a 100 ms delay makes about one segment per 100 ms,
        all bytes in order.
        """
        segmenter, clock, writes = self.make(0.1)
        typed = bytes(range(32, 132))
        for b in typed:
            segmenter.write(bytes([b]))
            clock.advance(0.01)
        clock.advance(0.1)
        self.assertEqual(b"".join(writes), typed)
        self.assertLessEqual(len(writes), 12)
        self.assertGreaterEqual(len(writes), 9)

    def test_flush(self) -> None:
        """
        Flushing sends what is held now and stops the timer.
        """
        segmenter, clock, writes = self.make(0.1)
        segmenter.write(b"last")
        segmenter.flush()
        self.assertEqual(writes, [b"last"])
        self.assertEqual(segmenter.held, 0)
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(1)
        self.assertEqual(writes, [b"last"])
        segmenter.flush()
        self.assertEqual(writes, [b"last"], "an empty flush wrote")

    def test_discard(self) -> None:
        """
        Discarding forgets what is held and stops the timer, so nothing is sent.
        """
        segmenter, clock, writes = self.make(0.1)
        segmenter.write(b"lost")
        segmenter.discard()
        self.assertEqual(segmenter.held, 0)
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(1)
        self.assertEqual(writes, [])
