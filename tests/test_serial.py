"""
Tests for L{tcpbridge.serial} and L{tcpbridge.lock}: a C{pty:} device
leaves alone whatever it did not make, and a serial line used by another
process or program is refused, with a message saying by whom; and how a
serial line is read.
"""

import os
from typing import List

from twisted.internet import main
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.lock import DeviceBusy, DeviceLock, DeviceUnusable, UUCPLock, lockExclusive
from tcpbridge.serial import MORE_READS, READ_SIZE, PtyDevice, readFrom


class PtyPathTests(SynchronousTestCase):
    """
    L{PtyDevice.open} replaces only a link to a pseudo-terminal, or a link
    to nothing.
    """

    def workspace(self) -> str:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        return directory

    def refused(self, path: str) -> str:
        """
        Opening a pty at C{path} fails with L{DeviceUnusable} and leaves no
        temporary link; return the message.
        """
        pty = PtyDevice(path)
        error = self.assertRaises(DeviceUnusable, pty.open)
        directory = os.path.dirname(path)
        self.assertEqual([n for n in os.listdir(directory) if n.endswith(".tmp")], [])
        return str(error)

    def test_regularFile(self) -> None:
        """
        A regular file at the path is refused and left as it was.
        """
        path = os.path.join(self.workspace(), "notes")
        with open(path, "w") as f:
            f.write("keep me")
        self.assertEqual(
            self.refused(path),
            "%s is a regular file: a pty: device only replaces a link it made" % (path,),
        )
        with open(path) as f:
            self.assertEqual(f.read(), "keep me")

    def test_directory(self) -> None:
        """
        A directory at the path is refused and left as it was, with no temporary link beside it.
        """
        directory = self.workspace()
        path = os.path.join(directory, "host")
        os.makedirs(os.path.join(path, "inside"))
        self.assertEqual(
            self.refused(path),
            "%s is a directory: a pty: device only replaces a link it made" % (path,),
        )
        self.assertEqual(os.listdir(path), ["inside"])

    def test_deviceNode(self) -> None:
        """
        A device node at the path is refused and left as it was.
        """
        before = os.stat("/dev/null")
        self.assertEqual(
            str(self.assertRaises(DeviceUnusable, PtyDevice("/dev/null").open)),
            "/dev/null is a character device: a pty: device only replaces a link it made",
        )
        after = os.stat("/dev/null")
        self.assertEqual((before.st_ino, before.st_rdev), (after.st_ino, after.st_rdev))

    def test_linkToOtherDevice(self) -> None:
        """
        A link to something other than a pseudo-terminal is refused and kept.
        """
        path = os.path.join(self.workspace(), "modem")
        os.symlink("/dev/null", path)
        self.assertEqual(
            self.refused(path),
            "%s is a link to /dev/null, not to a pseudo-terminal: a pty: device only "
            "replaces a link it made" % (path,),
        )
        self.assertEqual(os.readlink(path), "/dev/null")

    def test_danglingLink(self) -> None:
        """
        A link to nothing (left by a bridge that did not stop cleanly) is replaced.
        """
        path = os.path.join(self.workspace(), "host")
        os.symlink("/dev/pts/no-such-pty", path)
        pty = PtyDevice(path)
        master = pty.open()
        self.addCleanup(os.close, master)
        self.addCleanup(pty.close)
        self.assertEqual(os.readlink(path), os.ttyname(pty.slave))

    def test_secondBridgeOnLink(self) -> None:
        """
        A second pty at a path whose pseudo-terminal a running bridge holds is refused as busy, and
        the first link stays.
        """
        path = os.path.join(self.workspace(), "host")
        first = PtyDevice(path)
        master = first.open()
        self.addCleanup(os.close, master)
        self.addCleanup(first.close)
        error = self.assertRaises(DeviceBusy, PtyDevice(path).open)
        self.assertEqual(
            str(error),
            "%s is in use: another process's bridge holds its pseudo-terminal" % (path,),
        )
        self.assertEqual(os.readlink(path), first.target)

    def test_staleLinkToPty(self) -> None:
        """
        A link to a pseudo-terminal nobody holds locked is replaced by a new one.
        """
        path = os.path.join(self.workspace(), "host")
        master, slave = os.openpty()
        self.addCleanup(os.close, master)
        self.addCleanup(os.close, slave)
        os.symlink(os.ttyname(slave), path)
        pty = PtyDevice(path)
        self.addCleanup(os.close, pty.open())
        self.addCleanup(pty.close)
        self.assertNotEqual(os.readlink(path), os.ttyname(slave))


class DeviceLockTests(SynchronousTestCase):
    """
    L{DeviceLock} and L{UUCPLock}: the conventions other serial programs
    honour.
    """

    def setUp(self) -> None:
        self.locks = os.path.abspath(self.mktemp())
        os.makedirs(self.locks)
        self.master, self.slave = os.openpty()
        self.addCleanup(os.close, self.master)
        self.addCleanup(os.close, self.slave)
        self.device = os.ttyname(self.slave)
        self.lockFile = os.path.join(self.locks, "LCK.." + os.path.basename(self.device))

    def test_lockFileWritten(self) -> None:
        """
        A held device has a UUCP lock file with this process's id, removed on close.
        """
        lock = DeviceLock(self.device, self.locks)
        lock.acquire()
        with open(self.lockFile, "rb") as f:
            self.assertEqual(f.read(), b"%10d\n" % (os.getpid(),))
        lock.close()
        self.assertFalse(os.path.exists(self.lockFile))

    def test_lockFileOfLiveProcess(self) -> None:
        """
        A lock file naming a live process (minicom, say) makes the device busy, and is kept.
        """
        with open(self.lockFile, "wb") as f:
            f.write(b"%10d\n" % (os.getppid(),))
        error = self.assertRaises(DeviceBusy, DeviceLock(self.device, self.locks).acquire)
        self.assertEqual(
            str(error),
            "%s is in use by process %d (lock file %s)"
            % (self.device, os.getppid(), self.lockFile),
        )
        self.assertTrue(os.path.exists(self.lockFile))

    def test_staleLockFile(self) -> None:
        """
        A lock file whose process is gone is replaced.
        """
        with open(self.lockFile, "wb") as f:
            f.write(b"%10d\n" % (2**22 + 12345,))
        lock = DeviceLock(self.device, self.locks)
        lock.acquire()
        self.addCleanup(lock.close)
        with open(self.lockFile, "rb") as f:
            self.assertEqual(int(f.read()), os.getpid())

    def test_flockHeld(self) -> None:
        """
        A device another program holds with flock (picocom, another tcpbridge) is busy, and leaves
        no lock file.
        """
        other = os.open(self.device, os.O_RDWR | os.O_NOCTTY)
        self.addCleanup(os.close, other)
        lockExclusive(other, self.device)
        error = self.assertRaises(DeviceBusy, DeviceLock(self.device, self.locks).acquire)
        self.assertEqual(
            str(error), "%s is in use: another program holds a lock on it" % (self.device,)
        )
        self.assertFalse(os.path.exists(self.lockFile))

    def test_notATerminal(self) -> None:
        """
        A character device that is not a terminal is unusable, and leaves no lock file.
        """
        error = self.assertRaises(DeviceUnusable, DeviceLock("/dev/null", self.locks).acquire)
        self.assertEqual(str(error), "/dev/null is not a terminal (serial) device")
        self.assertEqual(os.listdir(self.locks), [])

    def test_regularFile(self) -> None:
        """
        A regular file is unusable.
        """
        path = os.path.join(self.locks, "ttyUSB0")
        open(path, "w").close()
        error = self.assertRaises(DeviceUnusable, DeviceLock(path, self.locks).acquire)
        self.assertEqual(str(error), "%s is a regular file, not a serial device" % (path,))

    def test_unwritableLockDirectory(self) -> None:
        """
        With no lock directory to write, the flock alone still holds the device.
        """
        lock = DeviceLock(self.device, os.path.join(self.locks, "missing"))
        lock.acquire()
        self.addCleanup(lock.close)
        self.assertRaises(DeviceBusy, DeviceLock(self.device, self.locks).acquire)

    def test_lockNameFollowsLinks(self) -> None:
        """
        A device reached through a link is locked under its own name.
        """
        link = os.path.join(self.locks, "by-id")
        os.symlink(self.device, link)
        self.assertEqual(UUCPLock(link, self.locks).path, self.lockFile)


class ReadFromTests(SynchronousTestCase):
    """
    Tests for L{readFrom}: what one read event delivers.
    """

    def setUp(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        self.addCleanup(os.close, self.r)
        self.addCleanup(os.close, self.w)
        self.delivered: List[bytes] = []

    def test_shortRead(self) -> None:
        """
        A read that does not fill the buffer is delivered as it is.
        """
        os.write(self.w, b"AT\r")
        self.assertIsNone(readFrom(self.r, self.delivered.append))
        self.assertEqual(self.delivered, [b"AT\r"])

    def test_readOnAfterFullRead(self) -> None:
        """
        After a read that fills the buffer, what has come since is read too and delivered at once.
        """
        data = os.urandom(READ_SIZE + 100)
        os.write(self.w, data)
        self.assertIsNone(readFrom(self.r, self.delivered.append))
        self.assertEqual(self.delivered, [data])

    def test_readOnBounded(self) -> None:
        """
        One read event delivers a bounded number of buffers, and the rest waits for the next.
        """
        data = os.urandom(READ_SIZE * (MORE_READS + 3))
        os.write(self.w, data)
        readFrom(self.r, self.delivered.append)
        self.assertEqual(self.delivered, [data[: READ_SIZE * (1 + MORE_READS)]])
        readFrom(self.r, self.delivered.append)
        self.assertEqual(b"".join(self.delivered), data)

    def test_endOfFile(self) -> None:
        """
        End of file reports the line as gone and delivers nothing.
        """
        os.close(self.w)
        self.w = os.open(os.devnull, os.O_RDONLY)
        self.assertIs(readFrom(self.r, self.delivered.append), main.CONNECTION_DONE)
        self.assertEqual(self.delivered, [])
