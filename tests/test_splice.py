"""
Tests for L{tcpbridge.splice}, the producer/consumer pair joining the serial
line and the TCP peer for one session.
"""

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tcpbridge.splice import Splice, Throttle


class ThrottleTests(SynchronousTestCase):
    """
    Tests for L{Throttle}.
    """

    def setUp(self) -> None:
        self.transport = StringTransport()
        self.throttle = Throttle(self.transport)

    def test_interface(self) -> None:
        """
        A throttle provides L{IPushProducer}.
        """
        self.assertTrue(verifyObject(IPushProducer, self.throttle))

    def test_pause(self) -> None:
        """
        Pausing the throttle pauses its transport.
        """
        self.throttle.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        self.assertTrue(self.throttle.paused)

    def test_resume(self) -> None:
        """
        Resuming the throttle resumes the transport it paused.
        """
        self.throttle.pauseProducing()
        self.throttle.resumeProducing()
        self.assertEqual(self.transport.producerState, "producing")
        self.assertFalse(self.throttle.paused)

    def test_resumeOnlyOwnPause(self) -> None:
        """
        Resuming a throttle that paused nothing leaves a transport paused by someone else alone.
        """
        self.transport.pauseProducing()
        self.throttle.resumeProducing()
        self.assertEqual(self.transport.producerState, "paused")

    def test_pauseTwiceResumeOnce(self) -> None:
        """
        Two pauses are undone by one resume: the throttle only remembers whether it paused.
        """
        self.throttle.pauseProducing()
        self.throttle.pauseProducing()
        self.throttle.resumeProducing()
        self.assertEqual(self.transport.producerState, "producing")

    def test_stopResumes(self) -> None:
        """
        Stopping the throttle undoes its pause rather than stopping the transport.
        """
        self.throttle.pauseProducing()
        self.throttle.stopProducing()
        self.assertEqual(self.transport.producerState, "producing")


class SpliceTests(SynchronousTestCase):
    """
    Tests for L{Splice}.
    """

    def setUp(self) -> None:
        self.host = StringTransport()
        self.peer = StringTransport()

    def test_registersProducers(self) -> None:
        """
        Each transport is registered as the other's streaming producer, through a throttle.
        """
        Splice(self.host, self.peer, True)
        self.assertIsInstance(self.host.producer, Throttle)
        self.assertIsInstance(self.peer.producer, Throttle)
        self.assertIs(self.host.producer.transport, self.peer)
        self.assertIs(self.peer.producer.transport, self.host)
        self.assertTrue(self.host.streaming)
        self.assertTrue(self.peer.streaming)

    def test_fromPeerDLE(self) -> None:
        """
        In DLE mode, peer bytes reach the host with DLE and ETX escaped.
        """
        splice = Splice(self.host, self.peer, True)
        splice.fromPeer(b"a\x03b\x10c")
        self.assertEqual(self.host.value(), b"a\x10\x03b\x10\x10c")
        self.assertEqual(self.peer.value(), b"")

    def test_fromPeerTransparent(self) -> None:
        """
        In mode 0, peer bytes reach the host unchanged.
        """
        splice = Splice(self.host, self.peer, False)
        splice.fromPeer(b"a\x03b\x10c")
        self.assertEqual(self.host.value(), b"a\x03b\x10c")

    def test_fromHostDLE(self) -> None:
        """
        In DLE mode, host bytes are decoded before they reach the peer.
        """
        splice = Splice(self.host, self.peer, True)
        self.assertIsNone(splice.fromHost(b"a\x10\x03b\x10\x10c\x10"))
        self.assertIsNone(splice.fromHost(b"\x03d"))
        self.assertEqual(self.peer.value(), b"a\x03b\x10c\x03d")
        self.assertEqual(self.host.value(), b"")

    def test_fromHostBareETX(self) -> None:
        """
        In DLE mode, a bare ETX from the host ends the payload and the bytes after it are returned.
        """
        splice = Splice(self.host, self.peer, True)
        self.assertEqual(splice.fromHost(b"bye\x03AT\r"), b"AT\r")
        self.assertEqual(self.peer.value(), b"bye")

    def test_fromHostBareETXOnly(self) -> None:
        """
        A read holding only a bare ETX writes nothing to the peer and returns an empty rest.
        """
        splice = Splice(self.host, self.peer, True)
        self.assertEqual(splice.fromHost(b"\x03"), b"")
        self.assertEqual(self.peer.value(), b"")

    def test_fromHostTransparent(self) -> None:
        """
        In mode 0, host bytes, ETX included, reach the peer unchanged and never end the session.
        """
        splice = Splice(self.host, self.peer, False)
        self.assertIsNone(splice.fromHost(b"a\x03b\x10\x03"))
        self.assertEqual(self.peer.value(), b"a\x03b\x10\x03")

    def test_peerPausesHost(self) -> None:
        """
        When the peer transport pauses its producer, the serial (host) transport is paused.
        """
        Splice(self.host, self.peer, True)
        self.peer.producer.pauseProducing()
        self.assertEqual(self.host.producerState, "paused")
        self.peer.producer.resumeProducing()
        self.assertEqual(self.host.producerState, "producing")

    def test_hostPausesPeer(self) -> None:
        """
        When the serial transport pauses its producer, the peer transport is paused.
        """
        Splice(self.host, self.peer, True)
        self.host.producer.pauseProducing()
        self.assertEqual(self.peer.producerState, "paused")

    def test_unspliceResumesHost(self) -> None:
        """
        Unsplicing resumes the serial side the session paused and unregisters both producers.
        """
        splice = Splice(self.host, self.peer, True)
        self.peer.producer.pauseProducing()
        splice.unsplice()
        self.assertEqual(self.host.producerState, "producing")
        self.assertIsNone(self.host.producer)
        self.assertIsNone(self.peer.producer)

    def test_unspliceLeavesOthersPause(self) -> None:
        """
        Unsplicing does not resume a serial transport that the session did not pause.
        """
        splice = Splice(self.host, self.peer, True)
        self.host.pauseProducing()
        splice.unsplice()
        self.assertEqual(self.host.producerState, "paused")

    def test_unspliceTwice(self) -> None:
        """
        Unsplicing twice is harmless.
        """
        splice = Splice(self.host, self.peer, True)
        splice.unsplice()
        splice.unsplice()
        self.assertIsNone(self.host.producer)
        self.assertIsNone(self.peer.producer)

    def test_unspliceThenRegister(self) -> None:
        """
        After unsplicing, each transport can take a new producer (a next session).
        """
        Splice(self.host, self.peer, True).unsplice()
        Splice(self.host, self.peer, False)
        self.assertIsNotNone(self.host.producer)

    def test_counters(self) -> None:
        """
        The counters count payload bytes: decoded to the peer, before encoding to the host.
        """
        splice = Splice(self.host, self.peer, True)
        splice.fromHost(b"ab\x10\x03")
        splice.fromPeer(b"\x03\x10x")
        splice.fromPeer(b"yz")
        self.assertEqual(splice.sentToPeer, 3)
        self.assertEqual(splice.sentToHost, 5)
        self.assertEqual(len(self.host.value()), 7)

    def test_countersAfterClose(self) -> None:
        """
        Bytes after the host's bare ETX are not counted as sent to the peer.
        """
        splice = Splice(self.host, self.peer, True)
        splice.fromHost(b"abc\x03AT\r")
        self.assertEqual(splice.sentToPeer, 3)

    def test_txDelayGathers(self) -> None:
        """
        With a transmit delay, host bytes are held until the delay after the first has passed.
        """
        clock = Clock()
        splice = Splice(self.host, self.peer, True, 0.1, clock)
        splice.fromHost(b"ab")
        clock.advance(0.06)
        splice.fromHost(b"c\x10\x03")
        self.assertEqual(self.peer.value(), b"")
        self.assertEqual(splice.sentToPeer, 0)
        clock.advance(0.04)
        self.assertEqual(self.peer.value(), b"abc\x03")
        self.assertEqual(splice.sentToPeer, 4)

    def test_flushSendsHeld(self) -> None:
        """
        C{flush} sends the held host bytes at once.
        """
        clock = Clock()
        splice = Splice(self.host, self.peer, True, 0.1, clock)
        splice.fromHost(b"held")
        splice.flush()
        self.assertEqual(self.peer.value(), b"held")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_unspliceDiscardsHeld(self) -> None:
        """
        Unsplicing forgets held host bytes and stops the delay timer (the peer is gone).
        """
        clock = Clock()
        splice = Splice(self.host, self.peer, True, 0.1, clock)
        splice.fromHost(b"held")
        splice.unsplice()
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(1)
        self.assertEqual(self.peer.value(), b"")
