"""
Tests for L{tcpbridge.hub}: the descriptors of an open session are read
through one epoll descriptor, with reading paused, resumed, given back and
ended as the reactor would.
"""

import os
import tty
from typing import Any, Callable, Generator, List, Optional, Set

from twisted.internet import error, reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tcpbridge import hub
from tcpbridge.serial import FileDescriptorTransport
from tests.hostside import BridgeHarness


class Recorder(Protocol):
    """
    Keeps what it receives and how it ended.
    """

    def __init__(self) -> None:
        self.received = b""
        self.lost: Optional[Failure] = None
        self.fail = False

    def dataReceived(self, data: bytes) -> None:
        if self.fail:
            raise ZeroDivisionError("a protocol that fails")
        self.received += data

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.lost = reason


@inlineCallbacks
def until(condition: Callable[[], object], seconds: float = 5.0) -> Generator[Deferred, Any, None]:
    """
    Let the reactor run until C{condition()} holds (failing after C{seconds}).
    """
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        yield deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("timed out waiting for %r" % (condition,))


def settle() -> "Deferred[None]":
    """
    A few turns of the reactor.
    """
    return deferLater(reactor, 0.1, lambda: None)


class HubTests(TestCase):
    """
    A pty's serial-side transport, adopted by the hub of the real reactor.
    """

    def setUp(self) -> None:
        self.hungUp: Set[int] = set()

    def line(self) -> "tuple[FileDescriptorTransport, Recorder, int]":
        """
        A pty: the transport on its master (adopted by the hub), its
        protocol, and the slave, the host's end.
        """
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(slave, False)
        protocol = Recorder()
        transport = FileDescriptorTransport(master, protocol, reactor)
        self.addCleanup(self.close, transport, slave)
        hub.adopt(transport)
        return transport, protocol, slave

    def close(self, transport: FileDescriptorTransport, slave: int) -> None:
        if not transport.disconnected:
            transport.connectionLost(Failure(error.ConnectionDone()))
        if slave not in self.hungUp:
            os.close(slave)

    def hangUp(self, slave: int) -> None:
        """
        Close the host's end of a line (once: the number may be reused).
        """
        self.hungUp.add(slave)
        os.close(slave)

    @inlineCallbacks
    def test_readThroughHub(self) -> Generator[Deferred, Any, None]:
        """
        An adopted transport is read by the hub, not by the reactor, and its bytes reach its protocol.
        """
        transport, protocol, slave = self.line()
        self.assertNotIn(transport, reactor.getReaders())
        self.assertTrue(hub.reading(transport))
        os.write(slave, b"hello")
        yield until(lambda: protocol.received == b"hello")

    @inlineCallbacks
    def test_pauseAndResume(self) -> Generator[Deferred, Any, None]:
        """
        A paused transport is not read (its bytes wait in the kernel); resumed, it is read again, in order.
        """
        transport, protocol, slave = self.line()
        transport.stopReading()
        self.assertFalse(hub.reading(transport))
        os.write(slave, b"held")
        yield settle()
        self.assertEqual(protocol.received, b"")
        transport.startReading()
        os.write(slave, b" then more")
        yield until(lambda: protocol.received == b"held then more")

    @inlineCallbacks
    def test_release(self) -> Generator[Deferred, Any, None]:
        """
        A transport given back is read by the reactor again, with its own methods; the hub closes its descriptor once it holds none.
        """
        transport, protocol, slave = self.line()
        hub.release(transport)
        self.assertIn(transport, reactor.getReaders())
        self.assertNotIn("startReading", transport.__dict__)
        self.assertIsNone(hub._hubs.get(reactor))
        os.write(slave, b"back")
        yield until(lambda: protocol.received == b"back")

    def test_releasePaused(self) -> None:
        """
        A transport paused when it is given back stays paused.
        """
        transport, protocol, slave = self.line()
        transport.stopReading()
        hub.release(transport)
        self.assertNotIn(transport, reactor.getReaders())

    def test_closedLeaves(self) -> None:
        """
        A transport that is closed leaves the hub, whose descriptor is then closed.
        """
        transport, protocol, slave = self.line()
        transport.connectionLost(Failure(error.ConnectionDone()))
        self.assertIsNone(hub._hubs.get(reactor))
        self.assertFalse(hub.reading(transport))

    @inlineCallbacks
    def test_failingProtocol(self) -> Generator[Deferred, Any, None]:
        """
        A protocol that raises loses its own transport, with the error logged; another adopted transport is read on.
        """
        bad, badProtocol, badSlave = self.line()
        good, goodProtocol, goodSlave = self.line()
        badProtocol.fail = True
        os.write(badSlave, b"boom")
        os.write(goodSlave, b"fine")
        yield until(lambda: badProtocol.lost is not None and goodProtocol.received == b"fine")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        badProtocol.lost.trap(ZeroDivisionError)
        os.write(goodSlave, b", still")
        yield until(lambda: goodProtocol.received == b"fine, still")

    @inlineCallbacks
    def test_hangUpWhilePaused(self) -> Generator[Deferred, Any, None]:
        """
        A paused line whose other end hangs up does not wake the hub again and again (a hang-up is reported whatever a descriptor waits for, so a paused one is not registered at all).
        """
        transport, protocol, slave = self.line()
        theHub = hub._hubs[reactor]
        handled: List[object] = []
        original = theHub._handle
        theHub._handle = lambda ready: (handled.append(ready), original(ready))  # type: ignore[method-assign]
        transport.stopReading()
        self.hangUp(slave)
        yield settle()
        self.assertEqual(handled, [])
        self.assertIsNone(protocol.lost)

    @inlineCallbacks
    def test_queuedWritesDrain(self) -> Generator[Deferred, Any, None]:
        """
        What a full line does not take waits with the reactor (not the hub) and is written as the line drains, in order, while the line is still read through the hub.
        """
        transport, protocol, slave = self.line()
        data = os.urandom(1 << 20)
        transport.write(data)
        transport.write(b"tail")
        self.assertIn(transport, reactor.getWriters())
        self.assertTrue(hub.reading(transport))
        received = []

        def drain() -> int:
            try:
                received.append(os.read(slave, 65536))
            except BlockingIOError:
                pass
            return sum(map(len, received))

        yield until(lambda: drain() >= len(data) + 4)
        self.assertEqual(b"".join(received), data + b"tail")
        yield until(lambda: transport not in reactor.getWriters())
        os.write(slave, b"still read")
        yield until(lambda: protocol.received == b"still read")

    def test_reactorDropsHub(self) -> None:
        """
        When the reactor loses the hub (at its shutdown), every adopted transport is lost with it.
        """
        transport, protocol, slave = self.line()
        theHub = hub._hubs[reactor]
        reason = Failure(error.ConnectionLost())
        theHub.connectionLost(reason)
        self.assertIs(protocol.lost, reason)
        self.assertNotIn(transport, reactor.getReaders())


class TCPTests(TestCase):
    """
    A plain TCP connection read through the hub.
    """

    @inlineCallbacks
    def connected(
        self, bufferSize: Optional[int] = None
    ) -> Generator[Deferred, Any, "tuple[Recorder, Any]"]:
        """
        A loopback connection whose server side is adopted: return the
        server's protocol and the client's transport.

        @param bufferSize: the most the server's transport reads at once.
        """
        server = Recorder()
        port = reactor.listenTCP(0, Factory.forProtocol(lambda: server), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = Recorder()
        reactor.connectTCP(
            "127.0.0.1", port.getHost().port, ClientFactory.forProtocol(lambda: client)
        )
        yield until(lambda: server.transport is not None and client.transport is not None)
        if bufferSize is not None:
            server.transport.bufferSize = bufferSize
        hub.adopt(server.transport)
        self.assertNotIn(server.transport, reactor.getReaders())
        return server, client.transport

    @inlineCallbacks
    def test_dataThenClose(self) -> Generator[Deferred, Any, None]:
        """
        The peer's bytes arrive, and its close ends the connection as the reactor would end it.
        """
        server, client = yield self.connected()
        client.write(b"data from the peer")
        yield until(lambda: server.received == b"data from the peer")
        client.loseConnection()
        yield until(lambda: server.lost is not None)
        server.lost.trap(error.ConnectionDone)
        self.assertIsNone(hub._hubs.get(reactor))

    @inlineCallbacks
    def test_moreThanOneRead(self) -> Generator[Deferred, Any, None]:
        """
        Bytes that take several reads all arrive, though the peer sends nothing after them.
        """
        server, client = yield self.connected(bufferSize=16)
        data = os.urandom(1000)
        client.write(data)
        yield until(lambda: len(server.received) >= len(data))
        self.assertEqual(server.received, data)
        client.loseConnection()
        yield until(lambda: server.lost is not None)

    @inlineCallbacks
    def test_dataWithClose(self) -> Generator[Deferred, Any, None]:
        """
        A close that comes with the last bytes (both waiting when the hub reads) ends the connection after the bytes are delivered.
        """
        server, client = yield self.connected()
        server.transport.stopReading()
        client.write(b"last words")
        client.loseConnection()
        yield settle()
        server.transport.startReading()
        yield until(lambda: server.lost is not None)
        server.lost.trap(error.ConnectionDone)
        self.assertEqual(server.received, b"last words")


class NoHubTests(SynchronousTestCase):
    """
    Where there are no real file descriptors, nothing is adopted.
    """

    def test_memoryReactor(self) -> None:
        """
        A memory reactor has no hub, and its transports stay with it.
        """
        memory = MemoryReactor()
        self.assertIsNone(hub.hubFor(memory))
        master, slave = os.openpty()
        self.addCleanup(os.close, slave)
        transport = FileDescriptorTransport(master, Protocol(), memory)
        self.addCleanup(os.close, master)
        hub.adopt(transport)
        self.assertIn(transport, memory.readers)
        self.assertNotIn("startReading", transport.__dict__)

    def test_notADescriptor(self) -> None:
        """
        A transport that is no file descriptor is left be.
        """
        transport = StringTransport()
        hub.adopt(transport)
        hub.release(transport)
        self.assertFalse(hasattr(transport, "startReading"))



class SessionTests(TestCase, BridgeHarness):
    """
    The real service: a session's descriptors are read through the hub
    while it is open, and given back when it ends.
    """

    @inlineCallbacks
    def test_sessionLife(self) -> Generator[Deferred, Any, None]:
        """
        In data mode the serial line and the peer are read through the hub, and data flows both ways; after the host's close the serial line is the reactor's again, and once the peer is gone the hub is closed.
        """
        service, host = self.startBridge()
        yield self.hello(host)
        self.assertIn(service.transport, reactor.getReaders(), "command mode is the reactor's")
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        session = service.modem.session
        for transport in (service.transport, session.peer):
            self.assertNotIn(transport, reactor.getReaders())
            self.assertTrue(hub.reading(transport))
        host.write(b"to the peer")
        self.assertEqual((yield peer.count(11)), b"to the peer")
        peer.write(b"to the host")
        self.assertEqual((yield host.count(11)), b"to the host")

        host.write(b"\x03")
        yield host.until(b"Ok_Info_SocketClosed\r\n\r\nOK\r\n")
        self.assertIn(service.transport, reactor.getReaders())
        self.assertNotIn("startReading", service.transport.__dict__, "still in the hub")
        peer.transport.loseConnection()
        yield until(lambda: hub._hubs.get(reactor) is None)
        self.assertEqual((yield host.command(b"AT")), b"\r\nOK\r\n")
