"""
Tests for L{tcpbridge.notify}: readiness datagrams to systemd's socket.
"""

import os
import shutil
import socket
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.notify import notify


class NotifyTests(SynchronousTestCase):
    """
    C{notify} sends one datagram to C{$NOTIFY_SOCKET}, and nothing without it.
    """

    def receiver(self, path: str) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(path)
        s.settimeout(5)
        return s

    def test_path(self) -> None:
        """
        A socket given by its path gets the state as one datagram.
        """
        # A socket path must be short (108 bytes): not under the test's
        # directory, which is as deep as the checkout is.
        directory = tempfile.mkdtemp(prefix="tcpbridge-notify-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "notify")
        s = self.receiver(path)
        self.assertTrue(notify("READY=1", {"NOTIFY_SOCKET": path}))
        self.assertEqual(s.recv(100), b"READY=1")

    def test_abstract(self) -> None:
        """
        A name starting with @ is an abstract socket.
        """
        name = "tcpbridge-test-%d" % (os.getpid(),)
        s = self.receiver("\0" + name)
        self.assertTrue(notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name}))
        self.assertEqual(s.recv(100), b"STOPPING=1")

    def test_notUnderSystemd(self) -> None:
        """
        Without C{NOTIFY_SOCKET}, or with one that is not there, nothing is sent and nothing fails.
        """
        self.assertFalse(notify("READY=1", {}))
        self.assertFalse(notify("READY=1", {"NOTIFY_SOCKET": "/nonexistent/socket"}))
