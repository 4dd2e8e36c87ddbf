"""
Tests for L{tcpbridge.service.BridgeService}'s handling of a serial line
that cannot be opened, on a L{MemoryReactorClock}: what it logs, and
whether it tries again.
"""

import os
import tty
from typing import List

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge import __version__
from tcpbridge.config import BridgeConfig
from tcpbridge.service import BridgeService, makeBridges


class RetryTests(SynchronousTestCase):
    """
    A device that is missing is tried again, and the log says when; one
    that can never be a serial line is not.
    """

    def bridge(self, device: str) -> "tuple[BridgeService, MemoryReactorClock, List[str]]":
        """
        A bridge on C{device} with its log lines collected, started.
        """
        reactor = MemoryReactorClock()
        service = BridgeService(BridgeConfig(name="usb", device=device), reactor)
        lines: List[str] = []
        service.log = Logger(observer=lambda event: lines.append(formatEvent(event) or ""))
        service.startService()
        self.addCleanup(service.stopService)
        return service, reactor, lines

    def test_notATerminal(self) -> None:
        """
        A device that is not a terminal is logged once and not tried again.
        """
        service, reactor, lines = self.bridge("/dev/null")
        self.assertEqual(
            lines,
            [
                "usb: cannot open /dev/null: /dev/null is not a terminal (serial) device; "
                "not trying again (correct the configuration and restart)"
            ],
        )
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_missingDevice(self) -> None:
        """
        A missing device is logged with when it is tried next, then again only when the reason
        changes or ten minutes have passed, and its return says after how many attempts.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        link = os.path.join(directory, "ttyUSB0")
        service, reactor, lines = self.bridge(link)
        self.assertEqual(
            lines,
            [
                "usb: cannot open %s: No such file or directory; trying again in 0.5 s, "
                "then at growing intervals of up to 30 s" % (link,)
            ],
        )
        # Ten minutes and a quarter of attempts every 30 s at most.
        for _ in range(41):
            reactor.advance(15)
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(
            lines[1],
            r"^usb: still cannot open %s after \d+ attempts: No such file or directory; "
            r"trying again in 30 s$" % (link,),
        )
        master, slave = os.openpty()
        self.addCleanup(os.close, master)
        self.addCleanup(os.close, slave)
        tty.setraw(slave)
        os.symlink(os.ttyname(slave), link)
        attempts = service._failures
        reactor.advance(30)
        self.assertIsNotNone(service.transport)
        self.assertEqual(
            lines[-1], "usb: serial line %s open again after %d attempts" % (link, attempts)
        )

    def test_oneAttempt(self) -> None:
        """
        A device back at the first retry is said to be open again after 1 attempt.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        link = os.path.join(directory, "ttyUSB0")
        service, reactor, lines = self.bridge(link)
        master, slave = os.openpty()
        self.addCleanup(os.close, master)
        self.addCleanup(os.close, slave)
        os.symlink(os.ttyname(slave), link)
        reactor.advance(0.5)
        self.assertEqual(lines[-1], "usb: serial line %s open again after 1 attempt" % (link,))


class BridgesTests(SynchronousTestCase):
    """
    The service holding every bridge.
    """

    def test_versionLogged(self) -> None:
        """
        Starting logs the version and the number of bridges.
        """
        top = makeBridges([], MemoryReactorClock())
        lines: List[str] = []
        top.log = Logger(observer=lambda event: lines.append(formatEvent(event) or ""))
        top.startService()
        self.assertEqual(lines, ["tcpbridge %s starting 0 bridges" % (__version__,)])
