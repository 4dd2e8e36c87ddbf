"""
Reloading the configuration on C{SIGHUP}: on the real reactor, a real
L{Supervisor} reads a real file, bridges run on ptys and sessions carry
data from loopback peers while the file changes under them.
"""

import os
import signal
import shutil
import socket
import tempfile
from typing import Any, Dict, Generator, List

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from tcpbridge import dle
from tcpbridge.reload import Supervisor
from tcpbridge.serviceconfig import readFile
from tests.hostside import (
    OK,
    BridgeHarness,
    Receiver,
    SameBytesMixin,
    freePort,
    openHost,
    poll,
)


def iniText(directory: str, names: List[str], changed: Dict[str, str] = {}) -> str:
    """
    A file with one bridge per name, each on its own pty link in
    C{directory}; C{changed} gives some of them an extra line.
    """
    lines = ["[DEFAULT]", "interface = 127.0.0.1", "dlemode = 1", "tcptxdelay = 0", ""]
    for name in names:
        lines += ["[bridge:%s]" % (name,), "device = pty:%s" % (os.path.join(directory, name),)]
        if name in changed:
            lines.append(changed[name])
        lines.append("")
    return "\n".join(lines)


class ReloadTests(BridgeHarness, SameBytesMixin, TestCase):
    """
    A reload starts, stops and restarts only the bridges whose settings
    changed; sessions on the others carry on, byte for byte.
    """

    timeout = 120

    def setUp(self) -> None:
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "tcpbridge.ini")
        self.logged: List[Dict[str, Any]] = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    def write(self, text: str) -> None:
        with open(self.path, "w") as f:
            f.write(text)

    def supervise(self, names: List[str]) -> Supervisor:
        """
        Write a file for C{names} and run it (stopped at clean-up).
        """
        self.write(iniText(self.directory, names))
        configs, settings = readFile(self.path)
        supervisor = Supervisor(self.path, configs, settings, reactor)
        supervisor.startService()
        self.addCleanup(supervisor.stopService)
        return supervisor

    def hostOf(self, name: str) -> Receiver:
        host = openHost(os.path.join(self.directory, name), reactor, name)
        self.addCleanup(host.close)
        return host

    @inlineCallbacks
    def openSession(self, name: str, source: str) -> Generator[Deferred, Any, Any]:
        """
        Open the host of bridge C{name}, listen, connect a peer: fire with
        (host, peer).
        """
        host = self.hostOf(name)
        yield self.hello(host)
        yield self.expect(host.command(b"AT#TCPSERV=\"255.255.255.255\""), OK)
        for attempt in range(5):
            # A port found free may be taken by the time it is bound (many
            # bridges, and other tests, look for free ports at once).
            port = freePort()
            yield self.expect(host.command(b"AT#TCPPORT=%d" % (port,)), OK)
            if (yield host.command(b"AT#LTCPSTART")) == OK:
                break
        peer = yield self.session(host, port, source)
        return host, peer

    def hangUp(self, supervisor: Supervisor, names: List[str]) -> "Deferred[object]":
        """
        Send the process a real C{SIGHUP}; fire once the running bridges
        are C{names}, every one of them with its line open.
        """
        before = supervisor.reloads
        os.kill(os.getpid(), signal.SIGHUP)

        def done() -> bool:
            running = sorted(s.name for s in supervisor.bridges)
            return (
                supervisor.reloads > before
                and running == sorted(names)
                and all(s.transport is not None for s in supervisor.bridges)
            )

        return poll(reactor, done, "the reload", timeout=30)

    @inlineCallbacks
    def test_sixtyFourBridges(self) -> Generator[Deferred, Any, None]:
        """
        With a session on each of 64 bridges, a reload that adds 8, removes 8 and changes 8 leaves
        the 48 other sessions open and byte-exact end to end, closes those of the removed and
        changed bridges, and starts the new ones.
        """
        names = ["b%02d" % (i,) for i in range(64)]
        supervisor = self.supervise(names)
        sessions = yield gatherResults(
            [self.openSession(n, "127.0.1.%d" % (2 + i,)) for i, n in enumerate(names)],
            consumeErrors=True,
        )
        pairs = dict(zip(names, sessions))
        removed, changed, kept = names[:8], names[8:16], names[16:]
        added = ["new%d" % (i,) for i in range(8)]
        chunks = {n: [os.urandom(32768) for _ in range(4)] for n in kept}

        def send(step: int) -> None:
            for n in kept:
                host, peer = pairs[n]
                host.write(dle.encode(chunks[n][step]))
                peer.write(chunks[n][step][::-1])

        send(0)
        self.write(
            iniText(
                self.directory, kept + changed + added,
                {n: "connect_timeout = 10" for n in changed},
            )
        )
        send(1)
        yield self.hangUp(supervisor, kept + changed + added)
        send(2)
        # Stopped bridges: their peers see the connection close.
        yield gatherResults([pairs[n][1].closed() for n in removed + changed], consumeErrors=True)
        send(3)
        for n in kept:
            host, peer = pairs[n]
            toPeer = b"".join(chunks[n])
            toHost = b"".join(c[::-1] for c in chunks[n])
            self.assertSameBytes((yield peer.count(len(toPeer))), toPeer, n + " at the peer")
            self.assertSameBytes((yield host.count(len(dle.encode(toHost)))), dle.encode(toHost), n + " at the host")
            self.assertIsNone(peer.lostReason, n)
            self.assertEqual(host.pending, b"", n + ": the host was told something")
        # The sessions are still open: one more byte each way.
        for n in kept[:4]:
            host, peer = pairs[n]
            peer.write(b"!")
            self.assertEqual((yield host.count(1)), b"!")
        for n in removed:
            self.assertFalse(os.path.lexists(os.path.join(self.directory, n)), n)
        for n in changed + added:
            host = self.hostOf(n)
            self.assertEqual((yield host.command(b"AT")), b"AT\r" + OK, n)
        lines = [e.get("log_format", "") for e in self.logged]
        self.assertIn(
            "configuration reloaded: added {added}; removed {removed}; "
            "restarted {restarted}; {unchanged} unchanged",
            lines,
        )
        report = [e for e in self.logged if e.get("log_format", "").startswith("configuration reloaded")][0]
        self.assertEqual(report["unchanged"], 48)
        self.assertEqual(report["restarted"], ", ".join(changed))

    @inlineCallbacks
    def test_brokenFile(self) -> Generator[Deferred, Any, None]:
        """
        A reload of a file that is bad anywhere is refused in one error line naming the file; the
        bridges and their sessions go on untouched.
        """
        names = ["one", "two"]
        supervisor = self.supervise(names)
        host, peer = yield self.openSession("one", "127.0.0.2")
        before = list(supervisor.bridges)
        self.write(iniText(self.directory, names + ["three"]) + "\n[bridge:four]\nbaudrate = fast\n")
        yield self.hangUp(supervisor, names)
        self.assertEqual(list(supervisor.bridges), before)
        errors = [e for e in self.logged if e.get("log_format", "").startswith("configuration reload refused")]
        self.assertEqual(len(errors), 1)
        self.assertIn(self.path, str(errors[0]["error"]))
        self.assertFalse(os.path.lexists(os.path.join(self.directory, "three")))
        peer.write(b"still here")
        self.assertEqual((yield host.count(10)), b"still here")
        self.assertIsNone(peer.lostReason)

    @inlineCallbacks
    def test_unchangedKeepsParameters(self) -> Generator[Deferred, Any, None]:
        """
        A bridge whose section did not change keeps the parameters its host set; one whose
        [DEFAULT] value changed restarts with the power-on values.
        """
        supervisor = self.supervise(["a"])
        host = self.hostOf("a")
        yield self.hello(host)
        self.assertEqual((yield host.command(b"AT#TCPPORT=4242")), OK)
        yield self.hangUp(supervisor, ["a"])
        self.assertEqual((yield host.command(b"AT#TCPPORT?")), b"\r\n#TCPPORT: 4242\r\n" + OK)
        self.write(iniText(self.directory, ["a"]).replace("tcptxdelay = 0", "tcptxdelay = 20"))
        first = list(supervisor.bridges)[0]
        yield self.hangUp(supervisor, ["a"])
        self.assertIsNot(list(supervisor.bridges)[0], first)
        host = self.hostOf("a")
        yield self.hello(host)
        self.assertEqual((yield host.command(b"AT#TCPPORT?")), b"\r\n#TCPPORT: 0\r\n" + OK)


    @inlineCallbacks
    def test_serviceSection(self) -> Generator[Deferred, Any, None]:
        """
        A reload that adds the [service] section starts the metrics server; one that removes it
        stops the server; the bridges' sessions go on through both.
        """
        supervisor = self.supervise(["a"])
        host, peer = yield self.openSession("a", "127.0.0.2")
        self.assertIsNone(supervisor.metrics)
        # The operator names the port (0 is refused): take a free one.
        metrics = "\n[service]\nmetrics = 127.0.0.1:%d\n" % (freePort(),)
        self.write(iniText(self.directory, ["a"]) + metrics)
        yield self.hangUp(supervisor, ["a"])
        self.assertIsNotNone(supervisor.metrics)
        self.write(iniText(self.directory, ["a"]))
        yield self.hangUp(supervisor, ["a"])
        self.assertIsNone(supervisor.metrics)
        peer.write(b"still here")
        self.assertEqual((yield host.count(10)), b"still here")
        self.assertIsNone(peer.lostReason)

class NotifyTests(BridgeHarness, TestCase):
    """
    What systemd is told (C{Type=notify}), and the unit that asks for it.
    """

    timeout = 30

    @inlineCallbacks
    def test_readyReloadingStopping(self) -> Generator[Deferred, Any, None]:
        """
        READY=1 once the bridges are started (one of them missing its device), RELOADING=1 then
        READY=1 around a reload, STOPPING=1 at the stop.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        # A socket path must be short (108 bytes): not under the test's
        # directory, which is as deep as the checkout is.
        sockets = tempfile.mkdtemp(prefix="tcpbridge-notify-")
        self.addCleanup(shutil.rmtree, sockets, True)
        address = os.path.join(sockets, "notify")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(receiver.close)
        receiver.bind(address)
        receiver.setblocking(False)
        self.patch(os, "environ", dict(os.environ, NOTIFY_SOCKET=address))
        path = os.path.join(directory, "tcpbridge.ini")
        with open(path, "w") as f:
            f.write(iniText(directory, ["a"]) + "[bridge:usb]\ndevice = %s/ttyUSB7\n" % (directory,))
        configs, settings = readFile(path)
        supervisor = Supervisor(path, configs, settings, reactor)
        supervisor.startService()
        self.assertEqual(receiver.recv(100), b"READY=1")
        yield supervisor.reload()
        self.assertEqual([receiver.recv(100), receiver.recv(100)], [b"RELOADING=1", b"READY=1"])
        yield supervisor.stopService()
        self.assertEqual(receiver.recv(100), b"STOPPING=1")

    def test_unit(self) -> None:
        """
        The systemd unit waits for readiness and reloads with SIGHUP.
        """
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(os.path.join(root, "etc", "tcpbridge.service")) as f:
            lines = f.read().splitlines()
        self.assertIn("Type=notify", lines)
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", lines)


class TwistdReloadTests(TestCase):
    """
    C{SIGHUP} to a real twistd process, as C{systemctl reload} sends it.
    """

    timeout = 60

    @inlineCallbacks
    def test_hangUp(self) -> Generator[Deferred, Any, None]:
        """
        twistd -n tcpbridge re-reads its file on SIGHUP: a bridge added to it starts, the first one
        keeps its host's settings; a broken file is refused in the log and nothing stops.
        """
        from tests.test_twistd import TwistdTests

        runner = TwistdTests("test_runsAndStops")
        runner.addCleanup = self.addCleanup  # type: ignore[method-assign]
        runner.mktemp = self.mktemp  # type: ignore[method-assign]
        directory = runner.workspace()
        first, second = os.path.join(directory, "first"), os.path.join(directory, "second")
        text = "[bridge:first]\ndevice = pty:%s\n" % (first,)
        config = runner.writeConfig(directory, text)
        process = runner.twistd(directory, "tcpbridge", "--config", config)
        yield runner.poll(lambda: os.path.exists(first), process, "first pty link")
        host = openHost(first, reactor)
        self.addCleanup(host.close)
        self.assertEqual((yield host.command(b"ATE0")), b"ATE0\r" + OK)

        runner.writeConfig(directory, text + "[bridge:second]\ndevice = pty:%s\n" % (second,))
        process.transport.signalProcess("HUP")
        yield runner.poll(lambda: os.path.exists(second), process, "second pty link")
        self.assertEqual((yield host.command(b"AT")), OK, "the first bridge was restarted")

        runner.writeConfig(directory, text + "[bridge:second]\ndevice =\n")
        process.transport.signalProcess("HUP")
        yield runner.poll(lambda: b"configuration reload refused" in process.out, process, "refusal")
        self.assertIn(b"[bridge:second] device: empty device", bytes(process.out))
        self.assertTrue(os.path.exists(second))
        self.assertEqual((yield host.command(b"AT")), OK)
