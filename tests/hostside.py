"""
The far ends of a bridge, for the real-reactor integration tests: the host
on the pty link and TCP peers on loopback addresses.

Both are a L{Receiver}, a protocol that keeps every byte it gets and lets a
test wait, always with a time-out, until some bytes have arrived or the
connection has closed.  A time-out fails the wait with a L{WaitTimeout}
that shows what did arrive, so a failing test says why instead of hanging.
"""

import os
import re
import socket
from typing import Any, Callable, Generator, List, Optional, Tuple

from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from zope.interface import implementer

from tcpbridge.serial import FileDescriptorTransport

#: Seconds any single wait may take before the test fails.
WAIT = 10.0

#: A final result code in verbose form: the end of a response.
FINAL_RESULT = re.compile(rb"\r\n(OK|ERROR|#CME ERROR: \d+)\r\n")


#: What the host reads, verbatim (ATV1).
OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
WAITING = b"\r\nOk_Info_WaitingForData\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n\r\nOK\r\n"
ETX = b"\x03"

class WaitTimeout(AssertionError):
    """
    What a test waited for did not happen in time.
    """


class Receiver(Protocol):
    """
    Keeps everything received; a test consumes it in order with the wait
    methods, each of which advances a cursor past what it returns.

    @ivar received: every byte received so far.
    @ivar cursor: how much of C{received} the waits have consumed.
    @ivar lostReason: the L{Failure} given to C{connectionLost}, once lost.
    """

    def __init__(self, reactor: Any, name: str) -> None:
        self.reactor = reactor
        self.name = name
        self.received = bytearray()
        self.cursor = 0
        self.lostReason: Optional[Failure] = None
        self._waiter: Optional[Tuple[Callable[[], Optional[int]], Deferred, Any, str]] = None
        self._lostWaiters: List[Deferred] = []

    # -- protocol ---------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self._check()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.lostReason = reason
        self._check()
        waiters, self._lostWaiters = self._lostWaiters, []
        for d in waiters:
            d.callback(reason.value)

    def write(self, data: bytes) -> None:
        """
        Send bytes to the other end.
        """
        self.transport.write(data)

    # -- waiting ----------------------------------------------------------

    @property
    def pending(self) -> bytes:
        """
        Bytes received and not consumed yet.
        """
        return bytes(self.received[self.cursor :])

    def _describe(self) -> str:
        pending = self.pending
        shown = pending if len(pending) <= 200 else pending[:100] + b"..." + pending[-100:]
        return "%s: %d bytes pending (%r), %d in all, %s" % (
            self.name,
            len(pending),
            shown,
            len(self.received),
            "connection lost: %s" % (self.lostReason.value,)
            if self.lostReason is not None
            else "connected",
        )

    def _wait(
        self, find: Callable[[], Optional[int]], what: str, timeout: float
    ) -> "Deferred[bytes]":
        assert self._waiter is None, "one wait at a time"
        d: Deferred = Deferred()

        def expire() -> None:
            self._waiter = None
            message = "after %ss still waiting for %s; %s" % (timeout, what, self._describe())
            d.errback(WaitTimeout(message))

        call = self.reactor.callLater(timeout, expire)
        self._waiter = (find, d, call, what)
        self._check()
        return d

    def _check(self) -> None:
        if self._waiter is None:
            return
        find, d, call, what = self._waiter
        end = find()
        if end is None:
            return
        self._waiter = None
        call.cancel()
        data = bytes(self.received[self.cursor : end])
        self.cursor = end
        d.callback(data)

    def until(self, needle: bytes, timeout: float = WAIT) -> "Deferred[bytes]":
        """
        Wait until C{needle} has arrived; fire with the pending bytes up to
        and including it.
        """

        def find() -> Optional[int]:
            i = self.received.find(needle, self.cursor)
            return None if i == -1 else i + len(needle)

        return self._wait(find, repr(needle), timeout)

    def count(self, n: int, timeout: float = WAIT) -> "Deferred[bytes]":
        """
        Wait until C{n} more bytes have arrived; fire with exactly those.
        """

        def find() -> Optional[int]:
            end = self.cursor + n
            return end if len(self.received) >= end else None

        return self._wait(find, "%d bytes" % (n,), timeout)

    def result(self, timeout: float = WAIT) -> "Deferred[bytes]":
        """
        Wait for a final result code (C{OK}, C{ERROR}, C{#CME ERROR: n});
        fire with the whole response, the result code included.
        """

        def find() -> Optional[int]:
            m = FINAL_RESULT.search(self.received, self.cursor)
            return None if m is None else m.end()

        return self._wait(find, "a final result code", timeout)

    def command(self, line: bytes, timeout: float = WAIT) -> "Deferred[bytes]":
        """
        Send one command line (CR added) and fire with its response.
        """
        self.write(line + b"\r")
        return self.result(timeout)

    def quiet(self, seconds: float = 0.3) -> "Deferred[bytes]":
        """
        Let the reactor run for C{seconds}; fire with whatever is pending
        then (a test asserts it is empty when nothing may arrive).
        """
        return deferLater(self.reactor, seconds, lambda: self.pending)

    def closed(self, timeout: float = WAIT) -> "Deferred[BaseException]":
        """
        Wait until the connection is lost; fire with the reason (the
        exception, e.g. L{twisted.internet.error.ConnectionDone}).
        """
        if self.lostReason is not None:
            d: Deferred = Deferred()
            d.callback(self.lostReason.value)
            return d
        d = Deferred()
        self._lostWaiters.append(d)

        def expire() -> None:
            if d in self._lostWaiters:
                self._lostWaiters.remove(d)
                message = "after %ss still not closed; %s" % (timeout, self._describe())
                d.errback(WaitTimeout(message))

        call = self.reactor.callLater(timeout, expire)

        def cancel(result: object) -> object:
            if call.active():
                call.cancel()
            return result

        return d.addBoth(cancel)

    def close(self) -> "Deferred[BaseException]":
        """
        Close the connection (if it is still open) and wait until it is.
        """
        if self.lostReason is None and self.transport is not None:
            if hasattr(self.transport, "abortConnection"):
                self.transport.abortConnection()
            else:
                # The pty end: drop any unwritten bytes rather than wait for
                # a service that may no longer read them.
                self.transport.connectionLost(Failure(ConnectionDone("closed by the test")))
        return self.closed()


def openHost(path: str, reactor: Any, name: str = "host") -> Receiver:
    """
    Open the host's end of a C{pty:} bridge, as firmware or a terminal
    program would, and connect a L{Receiver} to it.
    """
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    host = Receiver(reactor, name)
    FileDescriptorTransport(fd, host, reactor)
    return host


def connectPeer(reactor: Any, port: int, source: str, name: str = "") -> "Deferred[Receiver]":
    """
    Connect a loopback TCP peer from address C{source} to C{port}; fire
    with its L{Receiver} once the TCP connection is made.
    """
    endpoint = TCP4ClientEndpoint(
        reactor, "127.0.0.1", port, timeout=int(WAIT), bindAddress=(source, 0)
    )
    factory = Factory()
    factory.buildProtocol = (  # type: ignore[method-assign]
        lambda address: Receiver(reactor, name or "peer " + source)
    )
    return endpoint.connect(factory)


def connectionOutcome(reactor: Any, port: int, source: str) -> "Deferred[str]":
    """
    Try to connect from C{source} to C{port}, for a connection that must
    not be admitted.

    @return: fires with C{"refused"} if the connection is refused, or
        C{"dropped"} if it is accepted and then closed without a byte
        received; fails if bytes arrive or it stays open.
    """

    def connected(peer: Receiver) -> "Deferred[str]":
        def lost(reason: BaseException) -> str:
            if peer.received:
                raise AssertionError("%s received %r" % (peer.name, bytes(peer.received)))
            return "dropped"

        return peer.closed().addCallback(lost)

    def failed(f: Failure) -> str:
        f.trap(ConnectionRefusedError)
        return "refused"

    return connectPeer(reactor, port, source).addCallbacks(connected, failed)


def freePort() -> int:
    """
    A TCP port free on loopback right now (the host picks the port in this
    protocol, so the test must choose one).
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def buffered(transport: Any) -> int:
    """
    Bytes a Twisted L{FileDescriptor<twisted.internet.abstract.FileDescriptor>}
    transport holds in its write buffer, not yet taken by the kernel.
    """
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def poll(
    reactor: Any, check: Callable[[], object], what: str, timeout: float = WAIT,
    interval: float = 0.01,
) -> "Deferred[object]":
    """
    Wait until C{check()} returns something true; fire with it.  A time-out
    fails the wait with a L{WaitTimeout} naming C{what}.
    """
    d: Deferred = Deferred()
    deadline = reactor.seconds() + timeout

    def attempt() -> None:
        try:
            value = check()
        except BaseException:
            d.errback()
            return
        if value:
            d.callback(value)
        elif reactor.seconds() >= deadline:
            d.errback(WaitTimeout("after %ss still waiting for %s" % (timeout, what)))
        else:
            reactor.callLater(interval, attempt)

    attempt()
    return d


@implementer(IPushProducer)
class Flood:
    """
    Writes C{data} to a transport as fast as the transport will take it:
    a streaming producer that writes one chunk per reactor turn unless the
    transport has paused it, so that a test can stop the flood and leave at
    most about one buffer's worth unsent.

    @ivar sent: bytes handed to the transport so far.
    @ivar done: fires once all of C{data} has been handed over (or the flood
        was stopped).
    """

    CHUNK = 65536

    def __init__(self, reactor: Any, transport: Any, data: bytes) -> None:
        self.reactor = reactor
        self.transport = transport
        self.data = memoryview(data)
        self.sent = 0
        self.paused = False
        self.stopped = False
        self.done: Deferred = Deferred()
        self._call: Any = None
        transport.registerProducer(self, True)
        self._schedule()

    def _schedule(self) -> None:
        if self._call is None and not self.paused and not self.stopped:
            self._call = self.reactor.callLater(0, self._push)

    def _push(self) -> None:
        self._call = None
        if self.paused or self.stopped:
            return
        chunk = self.data[self.sent : self.sent + self.CHUNK]
        if chunk:
            self.sent += len(chunk)
            self.transport.write(bytes(chunk))
        if self.sent >= len(self.data):
            self._finish()
        else:
            self._schedule()

    def _finish(self) -> None:
        if not self.stopped:
            self.stopped = True
            if self._call is not None and self._call.active():
                self._call.cancel()
            self._call = None
            if self.transport.producer is self:
                self.transport.unregisterProducer()
            self.done.callback(self.sent)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._schedule()

    def stopProducing(self) -> None:
        self._finish()

    def stop(self) -> None:
        """
        Write no more.
        """
        self._finish()


class BridgeHarness:
    """
    A mixin for real-reactor L{twisted.trial.unittest.TestCase}s: start a
    real L{BridgeService} on a C{pty:} device, play its host, and open
    sessions from loopback peers.  Everything is closed at clean-up.
    """

    def bridgeConfig(self, name: str = "test", **kwargs: Any) -> Any:
        """
        A bridge on a fresh virtual serial port in this test's directory,
        listening on loopback only.
        """
        from tcpbridge.config import BridgeConfig
        from tcpbridge.serial import PTY_PREFIX

        directory = os.path.abspath(self.mktemp())  # type: ignore[attr-defined]
        os.makedirs(directory)
        kwargs.setdefault("interface", "127.0.0.1")
        kwargs.setdefault("device", PTY_PREFIX + os.path.join(directory, "host"))
        return BridgeConfig(name=name, **kwargs)

    def startBridge(self, **kwargs: Any) -> Tuple[Any, Receiver]:
        """
        Start one bridge on a C{pty:} device (stopped at clean-up); return
        the service and the host's L{Receiver}.
        """
        from tcpbridge.serial import PTY_PREFIX
        from tcpbridge.service import BridgeService

        config = self.bridgeConfig(**kwargs)
        service = BridgeService(config, self._reactor())
        service.startService()
        self.addCleanup(lambda: service.stopService() if service.running else None)  # type: ignore[attr-defined]
        host = openHost(config.device[len(PTY_PREFIX) :], self._reactor())
        self.addCleanup(host.close)  # type: ignore[attr-defined]
        return service, host

    def _reactor(self) -> Any:
        from twisted.internet import reactor

        return reactor

    def connect(self, port: int, source: str) -> "Deferred[Receiver]":
        """
        A peer connected from C{source}, aborted at clean-up.
        """

        def connected(peer: Receiver) -> Receiver:
            self.addCleanup(peer.close)  # type: ignore[attr-defined]
            return peer

        return connectPeer(self._reactor(), port, source).addCallback(connected)

    def expect(self, d: "Deferred[bytes]", expected: bytes, what: str = "") -> "Deferred[bytes]":
        """
        Fail unless C{d} fires with C{expected}.
        """

        def check(actual: bytes) -> bytes:
            self.assertEqual(actual, expected, what)  # type: ignore[attr-defined]
            return actual

        return d.addCallback(check)

    def hello(self, host: Receiver) -> "Deferred[bytes]":
        """
        Turn echo off, as host firmware does first.
        """
        host.write(b"ATE0\r")
        return self.expect(host.result(), b"ATE0\r\r\nOK\r\n", "ATE0")

    def listen(
        self, host: Receiver, tcpserv: str = "255.255.255.255", dlemode: int = 1,
        tcptxdelay: int = 0,
    ) -> "Deferred[int]":
        """
        Set the parameters and start listening on a free port; fire with it.
        """
        port = freePort()
        lines = [
            b'AT#TCPSERV="%s"' % (tcpserv.encode("ascii"),),
            b"AT#TCPPORT=%d" % (port,),
            b"AT#DLEMODE=%d" % (dlemode,),
            b"AT#TCPTXDELAY=%d" % (tcptxdelay,),
            b"AT#LTCPSTART",
        ]
        d: Deferred = Deferred()
        d.callback(None)
        for line in lines:
            d.addCallback(
                lambda _, line=line: self.expect(host.command(line), b"\r\nOK\r\n", repr(line))
            )
        return d.addCallback(lambda _: port)

    def session(self, host: Receiver, port: int, source: str = "127.0.0.2") -> "Deferred[Receiver]":
        """
        Connect an admitted peer; the host must be told the session opened.
        """
        waiting = b"\r\nOk_Info_WaitingForData\r\n"

        def connected(peer: Receiver) -> "Deferred[Receiver]":
            return self.expect(host.until(waiting), waiting, "session start").addCallback(
                lambda _: peer
            )

        return self.connect(port, source).addCallback(connected)


class _Accepted(Receiver):
    """
    A L{Receiver} made by a L{PeerServer}, which it tells once it is
    connected (so a test never writes to a protocol with no transport).
    """

    def __init__(self, reactor: Any, name: str, server: "PeerServer") -> None:
        Receiver.__init__(self, reactor, name)
        self.server = server

    def connectionMade(self) -> None:
        self.server._connected(self)


class PeerServer(Factory):
    """
    A test server that the bridge dials (C{AT#OTCP}): every connection it
    accepts gets a L{Receiver}; a test waits for them, with a time-out, in
    the order they came.

    @ivar accepted: every connection accepted so far.
    """

    noisy = False

    def __init__(self, reactor: Any, name: str = "server") -> None:
        self.reactor = reactor
        self.name = name
        self.accepted: List[Receiver] = []
        self._taken = 0
        self._waiters: List[Deferred] = []

    def buildProtocol(self, addr: Any) -> Receiver:
        return _Accepted(self.reactor, "%s connection %d" % (self.name, len(self.accepted) + 1), self)

    def _connected(self, receiver: Receiver) -> None:
        self.accepted.append(receiver)
        self._serve()

    def _serve(self) -> None:
        while self._waiters and self._taken < len(self.accepted):
            d = self._waiters.pop(0)
            self._taken += 1
            d.callback(self.accepted[self._taken - 1])

    def connection(self, timeout: float = WAIT) -> "Deferred[Receiver]":
        """
        Wait for the next connection accepted (one not yet returned); fire
        with its L{Receiver}.
        """
        d: Deferred = Deferred()
        self._waiters.append(d)

        def expire() -> None:
            if d in self._waiters:
                self._waiters.remove(d)
                d.errback(
                    WaitTimeout(
                        "after %ss %s still waiting for connection %d (%d accepted)"
                        % (timeout, self.name, self._taken + 1, len(self.accepted))
                    )
                )

        call = self.reactor.callLater(timeout, expire)

        def cancel(result: object) -> object:
            if call.active():
                call.cancel()
            return result

        self._serve()
        return d.addBoth(cancel)


def listenPeer(reactor: Any, tlsOptions: Any = None, name: str = "server") -> Tuple[PeerServer, Any]:
    """
    Start a L{PeerServer} on 127.0.0.1, on a port the system picks, in
    clear or (with C{tlsOptions}, a server context factory) over TLS.

    @return: the server and its listening port (the caller stops it).
    """
    server = PeerServer(reactor, name)
    if tlsOptions is None:
        port = reactor.listenTCP(0, server, interface="127.0.0.1")
    else:
        port = reactor.listenSSL(0, server, tlsOptions, interface="127.0.0.1")
    return server, port


#: Bytes in the megabyte that bulk tests move each way.
MEGABYTE = 1 << 20

#: Seconds a bulk transfer may take before a test gives up.
BULK_WAIT = 40.0


class SameBytesMixin:
    """
    For L{twisted.trial.unittest.TestCase}s comparing long byte strings.
    """

    def assertSameBytes(self, actual: bytes, expected: bytes, what: str) -> None:
        """
        Compare long byte strings, saying where they differ rather than
        printing a megabyte.
        """
        if actual == expected:
            return
        n = min(len(actual), len(expected))
        first = next((i for i in range(n) if actual[i] != expected[i]), n)
        self.fail(  # type: ignore[attr-defined]
            "%s: %d bytes, expected %d; first difference at offset %d: %r != %r"
            % (what, len(actual), len(expected), first,
               actual[first : first + 16], expected[first : first + 16])
        )

    @inlineCallbacks
    def exchangeMegabyte(
        self, host: Receiver, peer: Receiver, dleMode: bool
    ) -> Generator[Deferred, Any, None]:
        """
        Send a random megabyte each way at once and check both arrive
        byte-exact: the peer gets the payload, the host gets it DLE-coded in
        DLEMODE 1, and no bare ETX reaches the host in mid-session.
        """
        from tcpbridge import dle

        toPeer = os.urandom(MEGABYTE)
        toHost = os.urandom(MEGABYTE)
        expected = dle.encode(toHost) if dleMode else toHost
        host.write(dle.encode(toPeer) if dleMode else toPeer)
        peer.write(toHost)
        atPeer, atHost = yield gatherResults(
            [peer.count(len(toPeer), BULK_WAIT), host.count(len(expected), BULK_WAIT)],
            consumeErrors=True,
        )
        self.assertSameBytes(atPeer, toPeer, "at the peer")
        self.assertSameBytes(atHost, expected, "at the host, as sent")
        if dleMode:
            payload, rest = dle.Decoder().feed(atHost)
            self.assertIsNone(rest, "a bare ETX reached the host in mid-session")  # type: ignore[attr-defined]
            self.assertSameBytes(payload, toHost, "at the host, decoded")
        self.assertIsNone(peer.lostReason, "the session closed during the transfer")  # type: ignore[attr-defined]

    @inlineCallbacks
    def peerClosesAfterData(self, host: Receiver, peer: Receiver) -> Generator[Deferred, Any, None]:
        """
        The peer sends data ending in escapes and closes: the host must get
        the data DLE-coded, then an ETX, then C{Ok_Info_SocketClosed} and
        C{OK}, nothing more, and be in command mode.
        """
        from tcpbridge import dle

        data = os.urandom(100000) + b"\x10\x03\x10"
        peer.write(data)
        peer.transport.loseConnection()
        expected = dle.encode(data) + ETX + CLOSED
        self.assertSameBytes((yield host.count(len(expected))), expected, "at the host")
        self.assertEqual((yield host.quiet()), b"")  # type: ignore[attr-defined]
        self.assertEqual((yield host.command(b"AT")), OK)  # type: ignore[attr-defined]
