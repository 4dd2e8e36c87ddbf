"""
Integration tests of C{AT#PING} on the real reactor: the real
L{BridgeService} on a C{pty:} device, real ICMP echo to 127.0.0.1 (a raw
socket when the tests run as root, as they do in CI).
"""

from typing import Any, Generator

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial.unittest import SkipTest, TestCase

from tcpbridge.icmp import NoICMP, openSocket
from tests.hostside import OK, BridgeHarness


class PingIntegrationTests(BridgeHarness, TestCase):
    """
    C{AT#PING} through the real service.
    """

    timeout = 60

    def setUp(self) -> None:
        try:
            sock, _ = openSocket()
        except NoICMP as e:
            raise SkipTest("this process may open no ICMP socket: %s" % (e,))
        sock.close()

    @inlineCallbacks
    def test_loopback(self) -> Generator[Deferred, Any, None]:
        """
        AT#PING to 127.0.0.1 answers four is-alive lines, then OK, and the bridge is idle again.
        """
        _, host = self.startBridge()
        yield self.hello(host)
        self.assertEqual((yield host.command(b'AT#PINGREMOTE="127.0.0.1"')), OK)
        answer = yield host.command(b"AT#PING")
        lines = answer.split(b"\r\n")
        alive = [line for line in lines if line]
        self.assertEqual(len(alive), 5, answer)
        for line in alive[:4]:
            self.assertRegex(line, rb'^"127\.0\.0\.1" is alive : time = \d+ ms$')
        self.assertEqual(alive[4], b"OK")
        self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)

    @inlineCallbacks
    def test_unresolved(self) -> Generator[Deferred, Any, None]:
        """
        AT#PING to a name that does not resolve answers 38027.
        """
        _, host = self.startBridge()
        yield self.hello(host)
        self.assertEqual((yield host.command(b"AT+CMEE=1")), OK)
        self.assertEqual((yield host.command(b'AT#PINGREMOTE="nonexistent.invalid"')), OK)
        self.assertEqual(
            (yield host.command(b"AT#PING", timeout=20)), b"\r\n#CME ERROR: 38027\r\n"
        )

    @inlineCallbacks
    def test_stopByETX(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX during AT#PING stops it with OK; the next command runs.
        """
        _, host = self.startBridge()
        yield self.hello(host)
        self.assertEqual((yield host.command(b'AT#PINGREMOTE="127.0.0.1";#PINGNUM=255')), OK)
        host.write(b"AT#PING\r")
        first = yield host.until(b" ms\r\n")
        self.assertIn(b'"127.0.0.1" is alive', first)
        host.write(b"\x03")
        yield host.result()
        self.assertEqual((yield host.command(b"AT")), OK)
