"""
Integration tests of C{AT#PING} on the real reactor: the real
L{BridgeService} on a C{pty:} device, real ICMP echo to 127.0.0.1 (a raw
socket when the tests run as root, as they do in CI), and to an address
that does not answer, in a network namespace of the test's own.
"""

import os
import shutil
from typing import Any, Generator

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial.unittest import SkipTest, TestCase

from tcpbridge.icmp import NoICMP, openSocket
from tests.hostside import OK, BridgeHarness, openHost, poll
from tests.test_twistd import ROOT, TWISTD, TwistdProcess


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


class NoAnswerTests(TestCase):
    """
    C{AT#PING} to an address that does not answer: the service runs in a
    network namespace of its own (made with C{unshare --net}, gone with the
    process), where the kernel is told to ignore echo requests; nothing
    outside the test is touched.
    """

    timeout = 60

    def setUp(self) -> None:
        if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
            raise SkipTest("needs root, unshare and ip to make a network namespace")

    @inlineCallbacks
    def test_noAnswer(self) -> Generator[Deferred, Any, None]:
        """
        Each request that gets no reply within PINGDELAY is a NO answer line; then OK.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        link = os.path.join(directory, "host")
        config = os.path.join(directory, "tcpbridge.ini")
        with open(config, "w") as f:
            f.write("[bridge:quiet]\ndevice = pty:%s\ninterface = 127.0.0.1\n" % (link,))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
        script = (
            "ip link set lo up && echo 1 > /proc/sys/net/ipv4/icmp_echo_ignore_all "
            '&& exec "$0" "$@"'
        )
        argv = ["unshare", "--net", "sh", "-c", script] + TWISTD + ["tcpbridge", "--config", config]
        process = TwistdProcess()
        reactor.spawnProcess(process, shutil.which("unshare"), argv, env=env, path=directory)

        def stop() -> "Deferred[Any]":
            if process.reason is None:
                process.transport.signalProcess("KILL")
            return process.ended()

        self.addCleanup(stop)
        yield poll(reactor, lambda: os.path.exists(link) or process.reason, "the pty link")
        self.assertIsNone(process.reason, process.describe())
        host = openHost(link, reactor)
        self.addCleanup(host.close)
        host.write(b"ATE0\r")
        yield host.result()
        self.assertEqual((yield host.command(b'AT#PINGREMOTE="127.0.0.1";#PINGNUM=2')), OK)
        answer = yield host.command(b"AT#PING")
        self.assertEqual(answer, (b'\r\nNO answer from "127.0.0.1"\r\n' * 2) + OK)
