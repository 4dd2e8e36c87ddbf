"""
Opening a bridge's serial line: a real device through Twisted's
L{SerialPort} (pyserial), or a pseudo-terminal made by the service.

With C{device = pty:PATH} the service makes a pty pair, keeps the master as
its serial line and links the slave (the host's end) at C{PATH}, so a
terminal program or the firmware under test opens C{PATH} as if it were a
serial port.  The service also holds the slave open itself: the host may then
open and close C{PATH} at will without the master seeing end-of-file.
"""

import errno
import functools
import os
import stat
import tty
from typing import Callable, Optional, Union

from twisted.internet import abstract, fdesc, main
from twisted.internet.interfaces import IProtocol, IReactorFDSet
from twisted.internet.error import ConnectionAborted
from twisted.python.failure import Failure

from tcpbridge.lock import DeviceBusy, DeviceLock, DeviceUnusable, describeKind, lockExclusive
from tcpbridge.writethrough import makeWriter

PTY_PREFIX = "pty:"

#: Bytes read from a serial line in one go.  A tty's line discipline holds
#: 4 KiB, and no read of a tty (a pty's either end included) returns more;
#: a larger buffer only costs a larger allocation on every read, which at a
#: serial line's few bytes a read is most reads.
READ_SIZE = 4096

#: Reads more, at most, after one that filled the tty's buffer.
MORE_READS = 3


def readFrom(fd: int, deliver: Callable[[bytes], None]) -> Optional[Failure]:
    """
    Read what a serial line has (up to L{READ_SIZE} bytes) and deliver it.

    @return: what C{doRead} returns: L{None}, or why the line is gone.
    """
    try:
        data = os.read(fd, READ_SIZE)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EINTR):
            return None
        # EIO: the other end of a pty is gone, or the USB adapter was pulled.
        return main.CONNECTION_LOST
    if not data:
        return main.CONNECTION_DONE
    if len(data) >= READ_SIZE - 1:
        data = _readOn(fd, data)
    deliver(data)
    return None


def _readOn(fd: int, data: bytes) -> bytes:
    """
    After a read that filled the tty's buffer, take what has come since (a
    few reads at most): a fast writer refills the buffer while the first
    read is handled, and every further read is bytes that need no turn of
    the reactor, no C{dataReceived} and no TCP write of their own.
    """
    parts = [data]
    for _ in range(MORE_READS):
        try:
            more = os.read(fd, READ_SIZE)
        except OSError:
            # Nothing more now (or an error the next read will report).
            break
        if not more:
            break
        parts.append(more)
        if len(more) < READ_SIZE - 1:
            break
    return b"".join(parts)


class LineWriter:
    """
    How both kinds of serial transport write and are read: straight to the
    kernel when nothing is queued (see L{tcpbridge.writethrough}), and, when
    a backlog builds, without re-copying the unsent rest on every write
    event; read by L{readFrom}, through the hub while a session is open
    (see L{tcpbridge.hub}).
    """

    #: Twisted joins the unsent rest of its buffer with newer writes while
    #: the rest is under this many bytes.  A tty takes a few KB a write: at
    #: Twisted's default of 128 KiB the rest (up to the buffer's 64 KiB) was
    #: copied again at each one.
    SEND_LIMIT = 16384

    def openLine(self, fd: int) -> None:
        """
        The line is open on C{fd}: write to it directly from now on.
        """
        self.lineFd = fd
        self.write = makeWriter(  # type: ignore[method-assign]
            self,  # type: ignore[arg-type]
            functools.partial(os.write, fd),
            functools.partial(abstract.FileDescriptor.write, self),
        )

    def hubReader(self) -> Callable[[], Optional[Failure]]:
        """
        What the hub calls when the line is readable: L{readFrom} without
        the transport's C{doRead} around it.
        """
        return functools.partial(readFrom, self.lineFd, self.protocol.dataReceived)  # type: ignore[attr-defined]


class FileDescriptorTransport(LineWriter, abstract.FileDescriptor):
    """
    A non-blocking character device (a pty master) as a Twisted transport,
    with the producer/consumer support of L{abstract.FileDescriptor}.
    """

    connected = 1

    def __init__(self, fd: int, protocol: IProtocol, reactor: IReactorFDSet) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self.fd = fd
        fdesc.setNonBlocking(fd)
        self.openLine(fd)
        self.protocol = protocol
        protocol.makeConnection(self)
        self.startReading()

    def fileno(self) -> int:
        return self.fd

    def doRead(self) -> Optional[Failure]:
        return readFrom(self.fd, self.protocol.dataReceived)

    def writeSomeData(self, data: bytes) -> object:
        return fdesc.writeToFD(self.fd, data)

    def connectionLost(self, reason: Failure) -> None:
        abstract.FileDescriptor.connectionLost(self, reason)
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = -1
        self.protocol.connectionLost(reason)

    def getHost(self) -> str:
        return "pty"

    def getPeer(self) -> str:
        return "pty"


#: Where the kernel puts the slave ends of pseudo-terminals: a link there
#: is one a C{pty:} bridge made.
PTY_SLAVES = "/dev/pts/"


def checkPtyPath(path: str, busy: bool = True) -> None:
    """
    Check that a C{pty:} bridge may put its link at C{path}: nothing is
    there, or a link to a pseudo-terminal (one a bridge made), or a link
    to nothing.  Anything else (a file, a device node, a directory, a link
    to a real device) is the operator's and is left alone.

    @param busy: also refuse a link whose pseudo-terminal another process
        (a running bridge) holds.
    @raise DeviceUnusable: if C{path} holds something else.
    @raise DeviceBusy: if another process's bridge uses it.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISLNK(mode):
        raise DeviceUnusable(
            "%s is %s: a pty: device only replaces a link it made" % (path, describeKind(mode))
        )
    target = os.readlink(path)
    if not os.path.exists(path):
        return
    if not os.path.realpath(path).startswith(PTY_SLAVES):
        raise DeviceUnusable(
            "%s is a link to %s, not to a pseudo-terminal: a pty: device only replaces "
            "a link it made" % (path, target)
        )
    if not busy:
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        lockExclusive(fd, path)
    except DeviceBusy:
        raise DeviceBusy(
            "%s is in use: another process's bridge holds its pseudo-terminal" % (path,)
        )
    finally:
        os.close(fd)


class PtyDevice:
    """
    A pseudo-terminal whose host end is linked at C{path}.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.master = -1
        self.slave = -1
        self.target = ""

    def open(self) -> int:
        """
        Make the pair, set the host's end raw, link it at C{path}.

        @return: the master file descriptor, for the service to use.
        @raise DeviceUnusable: if C{path} holds something not to replace.
        @raise DeviceBusy: if another bridge's link is there.
        """
        checkPtyPath(self.path)
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self.master, self.slave = os.openpty()
        try:
            # Raw from the start: a host that opens the link without setting
            # the line up must not have the tty echo or translate anything.
            tty.setraw(self.slave)
            # Held locked for as long as the bridge runs: another process
            # sees the link is in use.
            lockExclusive(self.slave, self.path)
            self.target = target = os.ttyname(self.slave)
            temporary = "%s.%d.tmp" % (self.path, os.getpid())
            if os.path.lexists(temporary):
                os.unlink(temporary)
            os.symlink(target, temporary)
            try:
                os.replace(temporary, self.path)
            except BaseException:
                os.unlink(temporary)
                raise
        except BaseException:
            os.close(self.master)
            self.master = -1
            self.close()
            raise
        return self.master

    def close(self) -> None:
        """
        Remove the link (if it is still ours) and close the host's end.
        """
        try:
            if self.target and os.readlink(self.path) == self.target:
                os.unlink(self.path)
        except OSError:
            pass
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1


def abortLine(transport: abstract.FileDescriptor) -> None:
    """
    Close a serial transport at once, dropping what it still had to write:
    for a stop that cannot wait for a host that holds CTS or reads nothing.
    (Twisted gives TCP transports C{abortConnection}; this is the same for
    a serial line.)
    """
    if transport.disconnected:
        return
    transport.stopReading()
    transport.stopWriting()
    transport.doRead = transport.doWrite = lambda: None  # type: ignore[method-assign]
    transport.reactor.callLater(0, transport.connectionLost, Failure(ConnectionAborted()))


def applyLineSettings(transport: object, **settings: object) -> None:
    """
    Change the line settings (C{baudrate}, C{bytesize}, C{parity},
    C{stopbits}, C{rtscts}, C{xonxoff}) of a live serial port.

    pyserial reconfigures the port when its attributes are set (Twisted's
    own C{setBaudRate} is broken with pyserial 3).  A pty has no line: the
    settings are only remembered by the modem.
    """
    port = getattr(transport, "_serial", None)
    if port is None:
        return
    for name, value in settings.items():
        if getattr(port, name) != value:
            setattr(port, name, value)


@functools.lru_cache(maxsize=None)
def _serialPortClass() -> type:
    """
    Twisted's L{SerialPort}, reading in larger chunks.  Imported late: it
    pulls in pyserial, which a pty-only service never needs.
    """
    from twisted.internet.serialport import SerialPort

    class SerialDevice(LineWriter, SerialPort):  # type: ignore[misc, valid-type]
        def _serialFactory(self, *args: object, **kwargs: object) -> object:
            # The line is written directly from the first byte on (the
            # modem may answer as soon as it is connected).
            port = SerialPort._serialFactory(*args, **kwargs)
            self.openLine(port.fd)
            return port

        def doRead(self) -> Optional[Failure]:
            return readFrom(self.lineFd, self.protocol.dataReceived)

    return SerialDevice


def openDevice(
    device: str,
    protocol: IProtocol,
    reactor: IReactorFDSet,
    baudrate: int = 115200,
    bytesize: int = 8,
    parity: str = "N",
    stopbits: float = 1,
    flowcontrol: str = "none",
) -> "tuple[abstract.FileDescriptor, Union[PtyDevice, DeviceLock]]":
    """
    Open C{device} (a path, or C{pty:PATH}) and connect C{protocol} to it.

    @return: the transport, and what to close once the transport is gone
        (the L{PtyDevice}, or the L{DeviceLock} of a real device).
    @raise DeviceUnusable: if the path can never be the line as it stands.
    @raise DeviceBusy: if another process or program uses it.
    """
    if device.startswith(PTY_PREFIX):
        pty = PtyDevice(device[len(PTY_PREFIX) :])
        master = pty.open()
        return FileDescriptorTransport(master, protocol, reactor), pty
    lock = DeviceLock(device)
    lock.acquire()
    try:
        port = _serialPortClass()(
            protocol,
            device,
            reactor,
            baudrate=baudrate,
            bytesize=bytesize,
            parity=parity,
            stopbits=stopbits,
            xonxoff=flowcontrol == "xonxoff",
            rtscts=flowcontrol == "rtscts",
        )
    except BaseException:
        lock.close()
        raise
    return port, lock
