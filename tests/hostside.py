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
from typing import Any, Callable, List, Optional, Tuple

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from tcpbridge.serial import FileDescriptorTransport

#: Seconds any single wait may take before the test fails.
WAIT = 10.0

#: A final result code in verbose form (SPEC 2): the end of a response.
FINAL_RESULT = re.compile(rb"\r\n(OK|ERROR|#CME ERROR: \d+)\r\n")


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
