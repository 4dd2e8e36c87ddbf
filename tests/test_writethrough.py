"""
Tests for L{tcpbridge.writethrough}: writes go straight to the kernel when
nothing is queued, and only what it does not take is queued.
"""

import os
import tty
from typing import List, Union

from twisted.internet import main
from twisted.internet.abstract import FileDescriptor
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.serial import FileDescriptorTransport
from tcpbridge.splice import Splice
from tcpbridge.writethrough import makeWriter, sendSome, writable


class KernelStandIn(FileDescriptor):
    """
    A connected file descriptor whose kernel takes up to C{room} bytes a
    write (or answers with C{error}).
    """

    connected = 1

    def __init__(self, room: int = 1 << 20) -> None:
        FileDescriptor.__init__(self, MemoryReactor())
        self.room = room
        self.error: Union[None, Exception] = None
        self.taken: List[bytes] = []

    def writeSomeData(self, data: bytes) -> Union[int, Exception]:
        if self.error is not None:
            return self.error
        n = min(self.room, len(data))
        self.taken.append(bytes(data[:n]))
        return n


def queued(transport: FileDescriptor) -> bytes:
    """
    What C{transport} holds to write on a later turn.
    """
    return bytes(transport.dataBuffer) + b"".join(transport._tempDataBuffer)


class SendSomeTests(SynchronousTestCase):
    """
    Tests for L{makeWriter} over L{sendSome}: a plain file descriptor's
    C{writeSomeData} takes what it can when nothing is queued.
    """

    def write(self, transport: KernelStandIn, data: bytes) -> None:
        makeWriter(transport, sendSome(transport), transport.write)(data)

    def test_nothingQueued(self) -> None:
        """
        With nothing queued the bytes go to the kernel at once and nothing is left to queue.
        """
        transport = KernelStandIn()
        self.write(transport, b"abc")
        self.assertEqual(transport.taken, [b"abc"])
        self.assertEqual(queued(transport), b"")

    def test_partial(self) -> None:
        """
        What the kernel does not take is queued, in order.
        """
        transport = KernelStandIn(room=2)
        self.write(transport, b"abcde")
        self.assertEqual(transport.taken, [b"ab"])
        self.assertEqual(queued(transport), b"cde")

    def test_queuedFirst(self) -> None:
        """
        With bytes already queued nothing is written, so the order holds.
        """
        transport = KernelStandIn()
        transport.write(b"first")
        self.write(transport, b"second")
        self.assertEqual(transport.taken, [])
        self.assertEqual(queued(transport), b"firstsecond")

    def test_wouldBlockOrError(self) -> None:
        """
        A kernel that takes nothing, or fails, leaves all the bytes to the queued write.
        """
        full = KernelStandIn(room=0)
        self.write(full, b"abc")
        self.assertEqual(queued(full), b"abc")
        failing = KernelStandIn()
        failing.error = main.CONNECTION_LOST
        self.write(failing, b"abc")
        self.assertEqual((failing.taken, queued(failing)), ([], b"abc"))

    def test_notConnectedOrClosing(self) -> None:
        """
        A transport that is closing or closed is not written through.
        """
        closing = KernelStandIn()
        closing.disconnecting = True
        self.write(closing, b"abc")
        closed = KernelStandIn()
        closed.connected = 0
        self.write(closed, b"abc")
        self.assertEqual((closing.taken, closed.taken), ([], []))

    def test_writable(self) -> None:
        """
        Only a plain file descriptor is written through: not one under TLS, nor another kind of transport.
        """
        transport = KernelStandIn()
        self.assertTrue(writable(transport))
        transport.TLS = True  # type: ignore[attr-defined]
        self.assertFalse(writable(transport))
        self.assertFalse(writable(StringTransport()))

    def test_spliceWritesThrough(self) -> None:
        """
        A session's host bytes go to a plain peer's kernel at once, and to a TLS peer's own queue.
        """
        plain, tls = KernelStandIn(), KernelStandIn()
        tls.TLS = True  # type: ignore[attr-defined]
        for peer in (plain, tls):
            Splice(StringTransport(), peer, dleMode=False).fromHost(b"abc")
        self.assertEqual((plain.taken, plain.dataBuffer), ([b"abc"], b""))
        self.assertEqual((tls.taken, tls._tempDataBuffer), ([], [b"abc"]))


class MakeWriterTests(SynchronousTestCase):
    """
    Tests for L{makeWriter}: the system call takes what it can when nothing
    is queued, and the transport's queue takes the rest, in order.
    """

    def writer(self, room: int = 1 << 20) -> "tuple[KernelStandIn, List[bytes], object]":
        transport = KernelStandIn()
        sent: List[bytes] = []

        def send(data: bytes) -> int:
            if isinstance(room, Exception):
                raise room
            sent.append(bytes(data[:room]))
            return min(room, len(data))

        return transport, sent, makeWriter(transport, send, transport.write)

    def test_sentAtOnce(self) -> None:
        """
        With nothing queued every byte goes to the system call and nothing is queued.
        """
        transport, sent, write = self.writer()
        write(b"abc")  # type: ignore[operator]
        self.assertEqual((sent, transport._tempDataBuffer), ([b"abc"], []))

    def test_restQueued(self) -> None:
        """
        What the system call does not take is queued, and the next write queues behind it.
        """
        transport, sent, write = self.writer(room=2)
        write(b"abcde")  # type: ignore[operator]
        write(b"fg")  # type: ignore[operator]
        self.assertEqual(sent, [b"ab"])
        self.assertEqual(transport._tempDataBuffer, [b"cde", b"fg"])

    def test_errorQueued(self) -> None:
        """
        A system call that fails (would block, or the connection is gone) leaves every byte to the queue, which reports the error its own way.
        """
        transport, sent, write = self.writer(room=BlockingIOError())  # type: ignore[arg-type]
        write(b"abc")  # type: ignore[operator]
        self.assertEqual(transport._tempDataBuffer, [b"abc"])

    def test_closingQueued(self) -> None:
        """
        A transport closing, or closing its writing side, is not written to directly.
        """
        for attribute in ("disconnecting", "_writeDisconnecting"):
            transport, sent, write = self.writer()
            setattr(transport, attribute, True)
            write(b"abc")  # type: ignore[operator]
            self.assertEqual(sent, [], attribute)


class SerialWriteTests(SynchronousTestCase):
    """
    The serial line's transport writes through to a real pty.
    """

    def setUp(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.slave, False)
        self.reactor = MemoryReactor()
        self.transport = FileDescriptorTransport(self.master, Protocol(), self.reactor)
        self.addCleanup(os.close, self.slave)
        self.addCleanup(os.close, self.master)

    def test_writtenAtOnce(self) -> None:
        """
        A write reaches the pty before the reactor turns, and the transport waits for no write event.
        """
        self.transport.write(b"hello")
        self.assertEqual(os.read(self.slave, 100), b"hello")
        self.assertNotIn(self.transport, self.reactor.writers)

    def test_fullLineQueues(self) -> None:
        """
        What a full pty does not take is queued and written when the pty has room, in order.
        """
        data = os.urandom(1 << 20)
        self.transport.write(data)
        self.assertIn(self.transport, self.reactor.writers)
        self.transport.write(b"tail")
        received = b""
        while len(received) < len(data) + 4:
            try:
                received += os.read(self.slave, 65536)
            except BlockingIOError:
                self.assertIsNone(self.transport.doWrite())
        self.assertEqual(received, data + b"tail")
