"""
Keeping other programs off a serial line a bridge uses, and the bridge off
a line another program uses.

Two conventions are honoured, as serial programs on Linux honour them:

 - the UUCP lock file, C{/run/lock/LCK..NAME}, holding the owner's process
   id (minicom, cu and uucico look for it; a file whose process is gone is
   stale and removed);
 - an exclusive C{flock} on the device itself (picocom, pyserial's
   C{exclusive} mode, other tcpbridge processes).

A line held by someone else is L{DeviceBusy}: the bridge tries again
later.  A path that can never be a serial line (a regular file, a
directory, a device that is not a terminal such as C{/dev/null}) is
L{DeviceUnusable}: trying again would not help.
"""

import errno
import fcntl
import os
import stat
from typing import Optional

#: Where UUCP lock files live, the first that exists.
LOCK_DIRECTORIES = ("/run/lock", "/var/lock")


class DeviceBusy(Exception):
    """
    Another process or program is using the line; it may free it later.
    """


class DeviceUnusable(Exception):
    """
    The path is not, and will not become, a serial line as it stands.
    """


def describeKind(mode: int) -> str:
    """
    What kind of file C{mode} (from C{stat}) describes, in words.
    """
    for test, name in [
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ]:
        if test(mode):
            return name
    return "a special file"


def lockExclusive(fd: int, path: str) -> None:
    """
    Take an exclusive C{flock} on an open device, without waiting.

    @raise DeviceBusy: if another open file holds one.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise DeviceBusy("%s is in use: another program holds a lock on it" % (path,))
        raise


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class UUCPLock:
    """
    The UUCP lock file of one device: C{LCK..NAME} in the lock directory,
    NAME being the device's own name (links such as
    C{/dev/serial/by-id/...} are followed first).

    A lock directory this process cannot write is not an error: the
    C{flock} on the device still keeps other tcpbridge processes and
    picocom off it.
    """

    def __init__(self, device: str, directory: Optional[str] = None) -> None:
        if directory is None:
            directory = next((d for d in LOCK_DIRECTORIES if os.path.isdir(d)), None)
        self.device = device
        name = os.path.basename(os.path.realpath(device))
        self.path = None if directory is None else os.path.join(directory, "LCK.." + name)
        self.held = False

    def owner(self) -> Optional[int]:
        """
        The process id in the lock file, if there is one and it is alive.
        """
        assert self.path is not None
        try:
            with open(self.path, "rb") as f:
                text = f.read(128)
        except OSError:
            return None
        try:
            pid = int(text.split()[0]) if text.split() else 0
        except ValueError:
            return None
        return pid if _alive(pid) and pid != os.getpid() else None

    def acquire(self) -> None:
        """
        Create the lock file, removing a stale one.

        @raise DeviceBusy: if a live process holds it.
        """
        if self.path is None:
            return
        for attempt in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid = self.owner()
                if pid is not None:
                    raise DeviceBusy(
                        "%s is in use by process %d (lock file %s)" % (self.device, pid, self.path)
                    )
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
                continue
            except OSError:
                # Not ours to write (a lock directory of another group).
                return
            try:
                os.write(fd, b"%10d\n" % (os.getpid(),))
            finally:
                os.close(fd)
            self.held = True
            return
        raise DeviceBusy(
            "%s is in use: its lock file %s cannot be replaced" % (self.device, self.path)
        )

    def release(self) -> None:
        """
        Remove the lock file, if this process made it.
        """
        if not self.held or self.path is None:
            return
        self.held = False
        try:
            with open(self.path, "rb") as f:
                text = f.read(128)
            if text.split() and int(text.split()[0]) == os.getpid():
                os.unlink(self.path)
        except (OSError, ValueError):
            pass


class DeviceLock:
    """
    A real serial device held for one bridge: its UUCP lock file, and an
    open descriptor carrying an exclusive C{flock}.
    """

    def __init__(self, device: str, lockDirectory: Optional[str] = None) -> None:
        self.device = device
        self.uucp = UUCPLock(device, lockDirectory)
        self.fd = -1

    def acquire(self) -> None:
        """
        Check the device is a terminal and nobody else uses it, and lock it.

        @raise DeviceUnusable: if it is not a terminal device.
        @raise DeviceBusy: if another process or program uses it.
        @raise OSError: if it cannot be opened (missing, no permission).
        """
        mode = os.stat(self.device).st_mode
        if not stat.S_ISCHR(mode):
            raise DeviceUnusable(
                "%s is %s, not a serial device" % (self.device, describeKind(mode))
            )
        fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if not os.isatty(fd):
                raise DeviceUnusable("%s is not a terminal (serial) device" % (self.device,))
            self.uucp.acquire()
            try:
                lockExclusive(fd, self.device)
            except BaseException:
                self.uucp.release()
                raise
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def close(self) -> None:
        """
        Let the device go.
        """
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.uucp.release()
