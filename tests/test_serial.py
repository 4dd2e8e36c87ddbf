"""
Tests for L{tcpbridge.serial}'s reading of a serial line.
"""

import os
from typing import List

from twisted.internet import main
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.serial import MORE_READS, READ_SIZE, readFrom


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
