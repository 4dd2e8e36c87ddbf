"""
The twistd plugin: found by Twisted's plugin system, and run as a real
C{twistd -n tcpbridge --config FILE} process.
"""

import os
import signal
import sys
from typing import Any, Callable, Generator

from twisted.application.service import IServiceMaker
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ProcessDone
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.plugin import getPlugins
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tcpbridge import __version__
from tcpbridge.tap import DEFAULT_CONFIG, EXIT_CONFIG
from tests.hostside import OK, WAIT, WAITING, WaitTimeout, connectPeer, freePort, openHost

#: The checkout, put first on the child's PYTHONPATH.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: twistd in the foreground, with no pid file, under this Python.
TWISTD = [
    sys.executable,
    "-c",
    "from twisted.scripts.twistd import run; run()",
    "-n",
    "--pidfile=",
]

#: Seconds a twistd process may take to start or to stop.
PROCESS_WAIT = 20.0


class TwistdProcess(ProcessProtocol):
    """
    A child process whose output is kept, and whose end a test can wait for.
    """

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.reason: Any = None
        self._ended: Deferred = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        self.reason = reason.value
        self._ended.callback(None)

    def describe(self) -> str:
        return "stdout: %r\nstderr: %r" % (bytes(self.out), bytes(self.err))

    def ended(self, timeout: float = PROCESS_WAIT) -> "Deferred[Any]":
        """
        Wait for the process to end; fire with the reason (L{ProcessDone}
        for exit status 0, L{ProcessTerminated} otherwise).
        """
        d: Deferred = Deferred()

        def fire(_: object) -> None:
            if not d.called:
                d.callback(self.reason)

        def expire() -> None:
            if not d.called:
                message = "twistd still running after %ss\n%s" % (timeout, self.describe())
                d.errback(WaitTimeout(message))

        call = reactor.callLater(timeout, expire)
        self._ended.addCallback(fire)

        def cancel(result: object) -> object:
            if call.active():
                call.cancel()
            return result

        return d.addBoth(cancel)


class TwistdTests(TestCase):
    """
    tcpbridge as a twistd plugin.
    """

    timeout = 60

    def workspace(self) -> str:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        return directory

    def writeConfig(self, directory: str, text: str) -> str:
        path = os.path.join(directory, "tcpbridge.ini")
        with open(path, "w") as f:
            f.write(text)
        return path

    def twistd(self, directory: str, *args: str) -> TwistdProcess:
        """
        Start C{twistd -n --pidfile= ARGS} in C{directory}, with this
        checkout on its path; it is killed at clean-up if still running.
        """
        return self.spawn(directory, TWISTD + list(args))

    def spawn(self, directory: str, argv: "list[str]") -> TwistdProcess:
        """
        Start C{argv} (its first word is this Python) in C{directory}, with
        this checkout on its path; it is killed at clean-up if still running.
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
        process = TwistdProcess()
        reactor.spawnProcess(process, sys.executable, argv, env=env, path=directory)

        def kill() -> "Deferred[Any]":
            if process.reason is not None:
                return process.ended()
            process.transport.signalProcess("KILL")
            return process.ended()

        self.addCleanup(kill)
        return process

    @inlineCallbacks
    def poll(
        self, condition: Callable[[], bool], process: TwistdProcess, what: str
    ) -> Generator[Deferred, Any, None]:
        """
        Wait until C{condition()} is true, failing if the process ends or
        the time runs out first.
        """
        deadline = reactor.seconds() + PROCESS_WAIT
        while not condition():
            if process.reason is not None:
                self.fail(
                    "twistd ended (%s) before %s\n%s" % (process.reason, what, process.describe())
                )
            if reactor.seconds() > deadline:
                self.fail("no %s after %ss\n%s" % (what, PROCESS_WAIT, process.describe()))
            yield deferLater(reactor, 0.05, lambda: None)

    def test_pluginFound(self) -> None:
        """
        Twisted's plugin system finds exactly one service maker named tcpbridge, taking --config.
        """
        found = [p for p in getPlugins(IServiceMaker) if p.tapname == "tcpbridge"]
        self.assertEqual(len(found), 1, found)
        options = found[0].options()
        options.parseOptions(["--config", "bridges.ini"])
        self.assertEqual(options["config"], "bridges.ini")

    @inlineCallbacks
    def test_runsAndStops(self) -> Generator[Deferred, Any, None]:
        """
        twistd -n tcpbridge makes the pty link, answers AT on it, and on SIGTERM shuts down cleanly
        and removes the link.
        """
        directory = self.workspace()
        link = os.path.join(directory, "host")
        config = self.writeConfig(directory, "[bridge:sub]\ndevice = pty:%s\n" % (link,))
        process = self.twistd(directory, "tcpbridge", "--config", config)
        yield self.poll(lambda: os.path.exists(link), process, "pty link")
        host = openHost(link, reactor)
        self.addCleanup(host.close)
        host.write(b"AT\r")
        self.assertEqual((yield host.result()), b"AT\r\r\nOK\r\n")

        process.transport.signalProcess("TERM")
        reason = yield process.ended()
        # Since Twisted 18.4, twistd stopped by a signal shuts down cleanly and
        # then ends itself with that same signal (so that a supervisor sees
        # why it stopped); exit status 0 is accepted too.  A clean shutdown
        # shows in its log.
        self.assertTrue(
            isinstance(reason, ProcessDone) or getattr(reason, "signal", None) == signal.SIGTERM,
            "twistd ended with %s\n%s" % (reason, process.describe()),
        )
        out = bytes(process.out)
        self.assertIn(b"sub: serial line closed", out)
        self.assertIn(b"Server Shut Down.", out)
        self.assertFalse(os.path.lexists(link), "the pty link is left behind")
        # The service's end of the pty is closed: the host sees it go.
        yield host.closed(WAIT)

    @inlineCallbacks
    def test_badConfig(self) -> Generator[Deferred, Any, None]:
        """
        An unknown key makes twistd exit with status 78 and one line on stderr naming file, section
        and key, and no traceback.
        """
        directory = self.workspace()
        link = os.path.join(directory, "host")
        config = self.writeConfig(
            directory, "[bridge:sub]\ndevice = pty:%s\ncolour = blue\n" % (link,)
        )
        process = self.twistd(directory, "tcpbridge", "--config", config)
        reason = yield process.ended()
        self.assertFalse(isinstance(reason, ProcessDone), "twistd exited 0\n" + process.describe())
        self.assertEqual(reason.exitCode, EXIT_CONFIG, process.describe())
        err = bytes(process.err).decode("utf-8", "replace")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        for part in (config, "[bridge:sub]", "colour"):
            self.assertIn(part, lines[0])
        self.assertNotIn("Traceback", err + bytes(process.out).decode("utf-8", "replace"))
        self.assertFalse(os.path.lexists(link), "a bad configuration still made the pty")

    def test_defaultConfig(self) -> None:
        """
        Without --config the plugin reads the path the README installs the configuration at.
        """
        [maker] = [p for p in getPlugins(IServiceMaker) if p.tapname == "tcpbridge"]
        options = maker.options()
        options.parseOptions([])
        self.assertEqual(options["config"], "/etc/tcpbridge/tcpbridge.ini")
        self.assertEqual(DEFAULT_CONFIG, "/etc/tcpbridge/tcpbridge.ini")

    @inlineCallbacks
    def test_fileAtPtyPath(self) -> Generator[Deferred, Any, None]:
        """
        A regular file at a pty: path stops start-up with status 78, naming the path, and is left
        as it was.
        """
        directory = self.workspace()
        path = os.path.join(directory, "host")
        with open(path, "w") as f:
            f.write("keep me")
        config = self.writeConfig(directory, "[bridge:sub]\ndevice = pty:%s\n" % (path,))
        process = self.twistd(directory, "tcpbridge", "--config", config)
        reason = yield process.ended()
        self.assertEqual(getattr(reason, "exitCode", None), EXIT_CONFIG, process.describe())
        self.assertEqual(
            bytes(process.err).decode(),
            "tcpbridge: %s: [bridge:sub] device: %s is a regular file: a pty: device only "
            "replaces a link it made\n" % (config, path),
        )
        with open(path) as f:
            self.assertEqual(f.read(), "keep me")
        self.assertEqual(sorted(os.listdir(directory)), ["host", "tcpbridge.ini"])

    @inlineCallbacks
    def test_secondProcessRefused(self) -> Generator[Deferred, Any, None]:
        """
        A second twistd on the same pty: path logs that it is in use and takes nothing over: the
        first keeps its link and its session, both ways.
        """
        directory = self.workspace()
        link = os.path.join(directory, "host")
        config = self.writeConfig(
            directory, "[bridge:sub]\ndevice = pty:%s\ninterface = 127.0.0.1\n" % (link,)
        )
        first = self.twistd(directory, "tcpbridge", "--config", config)
        yield self.poll(lambda: os.path.exists(link), first, "pty link")
        self.assertIn(b"tcpbridge %s starting 1 bridge" % (__version__.encode(),), bytes(first.out))
        target = os.readlink(link)
        host = openHost(link, reactor)
        self.addCleanup(host.close)
        port = freePort()
        for line in [b"ATE0", b"AT#TCPPORT=%d" % (port,), b"AT#LTCPSTART"]:
            self.assertTrue((yield host.command(line)).endswith(OK), line)
        peer = yield connectPeer(reactor, port, "127.0.0.2")
        self.addCleanup(peer.close)
        self.assertEqual((yield host.until(WAITING)), WAITING)

        second = self.twistd(directory, "tcpbridge", "--config", config)
        refusal = b"sub: cannot open pty:%s: %s is in use: another process's bridge holds its " \
            b"pseudo-terminal; trying again in 0.5 s" % (link.encode(), link.encode())
        yield self.poll(lambda: refusal in bytes(second.out), second, "the refusal")
        self.assertEqual(os.readlink(link), target)
        peer.write(b"ping")
        self.assertEqual((yield host.count(4)), b"ping")
        host.write(b"pong")
        self.assertEqual((yield peer.count(4)), b"pong")
        second.transport.signalProcess("TERM")
        yield second.ended()
        self.assertEqual(os.readlink(link), target, "the second process removed the link")
        host.write(b"again")
        self.assertEqual((yield peer.count(5)), b"again")

    @inlineCallbacks
    def test_jsonLog(self) -> Generator[Deferred, Any, None]:
        """
        twist --log-format=json, as the README says, runs the plugin and logs one JSON event a
        line (a JSON text sequence), each naming its bridge.
        """
        import json

        directory = self.workspace()
        link = os.path.join(directory, "host")
        config = self.writeConfig(directory, "[bridge:sub]\ndevice = pty:%s\n" % (link,))
        process = self.spawn(
            directory,
            [sys.executable, "-m", "twisted", "--log-format=json", "tcpbridge", "--config", config],
        )
        yield self.poll(lambda: os.path.exists(link), process, "pty link")
        process.transport.signalProcess("TERM")
        yield process.ended()
        # RFC 7464 JSON text sequences: each event starts with RS (0x1e).
        records = bytes(process.out).decode().split("\x1e")
        events = [json.loads(record) for record in records if record.strip()]
        opened = [e for e in events if e.get("log_format") == "{bridge}: serial line {device} open"]
        self.assertEqual([(e["bridge"], e["device"]) for e in opened], [("sub", "pty:" + link)])
        self.assertIn(__version__, [e.get("version") for e in events])
