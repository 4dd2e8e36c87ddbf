"""
Reading the descriptors of open sessions without one turn of Twisted's
dispatch per read.

Twisted's reactor wraps every read event in a log context and a round of
checks before it calls the transport's C{doRead}.  At a serial line's rate a
bridge reads a few dozen bytes at a time, and that wrapping costs more than
everything tcpbridge does with the bytes.  The hub is one epoll descriptor
that the reactor reads like any other: the serial line and the peer
connection of a session are moved, for reading, from the reactor's own set
into it, and when it is readable one call takes every ready descriptor and
reads each in one call (L{readerOf}: for the serial line and a plain TCP
connection, the system call and the protocol's C{dataReceived}, without the
transport's C{doRead} layers).

Nothing else changes for the transports: they write, and wait to write,
through the reactor as before; they pause and resume as before
(C{stopReading} and C{startReading} act on the hub while they are in it); a
transport that is closed leaves the hub; and what a read reports (end of
file, a lost line, an exception) is handled as the reactor would.
Where there is no epoll, or the reactor or the transport is not a real file
descriptor (the tests' memory reactors), nothing is adopted.
"""

import errno
import select
import weakref
from typing import Callable, Dict, Optional

from twisted.internet import abstract, error, main, tcp
from twisted.internet.interfaces import IHalfCloseableDescriptor, IReactorFDSet
from twisted.logger import Logger
from twisted.python.failure import Failure

_EPOLL = getattr(select, "epoll", None)
_IN = getattr(select, "EPOLLIN", 1)

#: Descriptors handled in one call at most, so that a hub full of busy
#: sessions still lets the reactor run its timers and other descriptors.
MAX_EVENTS = 256

#: Polls of the hub in one turn of the reactor, at most.
BATCHES = 4

_LOST = Failure(error.ConnectionLost())
_DONE = Failure(error.ConnectionDone())

_hubs: "weakref.WeakKeyDictionary[object, Hub]" = weakref.WeakKeyDictionary()


class Hub:
    """
    One epoll descriptor, read by the reactor, holding the descriptors of
    the transports it has adopted for reading.
    """

    log = Logger()

    def __init__(self, reactor: IReactorFDSet) -> None:
        self.reactor = reactor
        self._epoll = _EPOLL()  # type: ignore[misc]
        self._fd = self._epoll.fileno()
        #: Adopted descriptors: fd -> transport.
        self._adopted: Dict[int, abstract.FileDescriptor] = {}
        #: How each adopted descriptor is read (see L{readerOf}).
        self._readers: Dict[int, Callable[[], object]] = {}
        #: The adopted descriptors being read, and only they, registered
        #: in the epoll descriptor: fd -> its reader.  (A paused one is not
        #: registered at all: a hang-up or an error is reported whatever a
        #: descriptor waits for, and would wake the hub on every turn.)
        self._active: Dict[int, Callable[[], object]] = {}
        self._added = False

    # -- what the reactor sees ------------------------------------------------

    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return "tcpbridge.hub"

    def doRead(self) -> None:
        # While many sessions are busy, what became ready while a batch
        # was handled is taken in the same turn (a few batches at most,
        # then the reactor's timers and other descriptors have their
        # turn): a turn of the reactor, and the wake-up before it, cost
        # more than the poll that finds nothing.  After a batch of one (a
        # single busy session) that poll would mostly find nothing.
        for _ in range(BATCHES):
            if self._epoll.closed:
                return
            ready = self._epoll.poll(0, MAX_EVENTS)
            self._handle(ready)
            if len(ready) < 2:
                return

    def _handle(self, ready: "list[tuple[int, int]]") -> None:
        active = self._active
        for fd, events in ready:
            # Looked up for each: an earlier one of this batch may have
            # paused or closed it.
            read = active.get(fd)
            if read is None:
                continue
            try:
                why = read() if events & _IN else main.CONNECTION_LOST
            except BaseException:
                why = Failure()
                self.log.failure("{transport} failed", why, transport=self._adopted.get(fd))
            if why:
                # (Unless it was closed meanwhile.)
                transport = self._adopted.get(fd)
                if transport is not None:
                    self._lose(transport, why)

    def connectionLost(self, reason: Failure) -> None:
        """
        The reactor is shutting down (or dropped the hub): every adopted
        transport is lost with it, as the reactor would have done with each.
        """
        for fd, transport in list(self._adopted.items()):
            # Out of the hub, but not handed back to the reactor to read:
            # it is lost at once.
            self._forget(fd)
            transport.connectionLost(reason)

    # -- adoption -------------------------------------------------------------

    def adopt(self, transport: abstract.FileDescriptor) -> None:
        """
        Read C{transport} through the hub from now on, for as long as it is
        open.  (Its writes, and its waits to write, stay with the reactor:
        a tty polled through two epoll descriptors, the hub's and the
        reactor's, costs the kernel twice, and a write wait is one event
        per several KB.)
        """
        fd = transport.fileno()
        if fd in self._adopted or fd < 0 or transport.disconnected:
            return
        reading = transport in self.reactor.getReaders()
        self.reactor.removeReader(transport)
        self._adopted[fd] = transport
        self._readers[fd] = readerOf(transport)
        transport.startReading = lambda: self._resume(fd)  # type: ignore[method-assign]
        transport.stopReading = lambda: self._pause(fd)  # type: ignore[method-assign]
        if reading:
            self._resume(fd)
        if not self._added:
            self._added = True
            self.reactor.addReader(self)

    def release(self, transport: abstract.FileDescriptor) -> None:
        """
        Give C{transport} back to the reactor (reading if it was).
        """
        fd = self._fdOf(transport)
        if fd is None:
            return
        reading = self._forget(fd)
        if reading and not transport.disconnected:
            transport.startReading()

    def reading(self, transport: abstract.FileDescriptor) -> bool:
        """
        Whether C{transport} is adopted and being read.
        """
        fd = self._fdOf(transport)
        return fd is not None and fd in self._active

    def _fdOf(self, transport: abstract.FileDescriptor) -> Optional[int]:
        for fd, adopted in self._adopted.items():
            if adopted is transport:
                return fd
        return None

    def _forget(self, fd: int) -> bool:
        transport = self._adopted.pop(fd)
        del self._readers[fd]
        reading = self._active.pop(fd, None) is not None
        if reading:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass
        # The class's own methods again.
        for name in ("startReading", "stopReading"):
            transport.__dict__.pop(name, None)
        if not self._adopted:
            # No session open: the hub's own descriptor is closed too (a
            # new one is made for the next session).
            if self._added:
                self._added = False
                self.reactor.removeReader(self)
            self._epoll.close()
            if _hubs.get(self.reactor) is self:
                del _hubs[self.reactor]
        return reading

    def _resume(self, fd: int) -> None:
        transport = self._adopted.get(fd)
        if transport is not None and fd not in self._active:
            # A transport being aborted has its doRead replaced by one that
            # reads nothing (Twisted's abortConnection, abortLine): that
            # one is called, not the direct reader.
            self._active[fd] = transport.__dict__.get("doRead", self._readers[fd])
            self._epoll.register(fd, _IN)

    def _pause(self, fd: int) -> None:
        transport = self._adopted.get(fd)
        if transport is None:
            return
        if transport.disconnected:
            # Closing: the descriptor is about to be closed.
            self._forget(fd)
        elif self._active.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def _lose(self, transport: abstract.FileDescriptor, why: object) -> None:
        """
        What the reactor does when C{doRead} reports the end: half-close
        for a clean end of a connection that can, else lose it whole.
        """
        transport.stopReading()
        if isinstance(why, Failure):
            reason = why
        elif isinstance(why, error.ConnectionDone):
            if IHalfCloseableDescriptor.providedBy(transport):
                transport.readConnectionLost(_DONE)
                return
            reason = _DONE
        elif isinstance(why, error.ConnectionLost):
            reason = _LOST
        else:
            reason = Failure(why)
        transport.stopWriting()
        transport.connectionLost(reason)


def readerOf(transport: abstract.FileDescriptor) -> Callable[[], object]:
    """
    What the hub calls when C{transport} is readable, returning what
    C{doRead} would: the transport's own C{hubReader()} if it has one (the
    serial line's), a direct C{recv} for a plain TCP connection, else its
    C{doRead}.
    """
    reader = getattr(transport, "hubReader", None)
    if reader is not None:
        return reader()  # type: ignore[no-any-return]
    if isinstance(transport, tcp.Connection) and not getattr(transport, "TLS", False):
        return _tcpReader(transport)
    return transport.doRead


def _tcpReader(transport: tcp.Connection) -> Callable[[], object]:
    """
    C{doRead} of a plain TCP connection in one call, without its layers.
    (The serial line's twin is L{tcpbridge.serial.readFrom}, which also
    reads on after a read that filled the tty; a function for both would
    cost each read one more call.)
    """
    recv = transport.socket.recv
    deliver = transport.protocol.dataReceived
    size = transport.bufferSize

    def read() -> object:
        try:
            data = recv(size)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EINTR):
                return None
            return main.CONNECTION_LOST
        if not data:
            return main.CONNECTION_DONE
        deliver(data)
        return None

    return read


def hubFor(reactor: object) -> Optional[Hub]:
    """
    The hub of C{reactor}, made on first use; L{None} where there is none
    (no epoll, or a reactor without real file descriptors).
    """
    hub = _hubs.get(reactor)
    if hub is None:
        if _EPOLL is None or not _realDescriptors(reactor):
            return None
        hub = _hubs[reactor] = Hub(reactor)  # type: ignore[arg-type]
    return hub


def _realDescriptors(reactor: object) -> bool:
    from twisted.internet.posixbase import PosixReactorBase

    return isinstance(reactor, PosixReactorBase)


def adopt(transport: object) -> None:
    """
    Read C{transport} through its reactor's hub if it is a plain file
    descriptor on a reactor that has one; otherwise leave it be.
    """
    if not isinstance(transport, abstract.FileDescriptor):
        return
    hub = hubFor(transport.reactor)
    if hub is not None:
        hub.adopt(transport)


def reading(transport: abstract.FileDescriptor) -> bool:
    """
    Whether C{transport} is being read, by the reactor or by its hub.
    """
    hub = _hubs.get(transport.reactor)
    if hub is not None and hub.reading(transport):
        return True
    return transport in transport.reactor.getReaders()


def release(transport: object) -> None:
    """
    Give C{transport} back to its reactor if its hub has it.
    """
    reactor = getattr(transport, "reactor", None)
    hub = None if reactor is None else _hubs.get(reactor)
    if hub is not None:
        hub.release(transport)  # type: ignore[arg-type]
