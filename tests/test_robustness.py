"""
Robustness on the real reactor: the real
L{BridgeService} under hostile or unlucky conditions (connection floods
from refused addresses, peers that reset or say nothing, noise on the
serial line, a serial device that goes away and comes back, bad
configuration files, many bridges at once) and its trace file.

Every address is on loopback (127.0.0.0/8) and every port is picked free.
"""

import io
import os
import socket
import struct
import sys
import tty
from typing import Any, Generator, List, Optional, Tuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tcpbridge import dle, tap
from tcpbridge.config import BridgeConfig
from tcpbridge.serial import PTY_PREFIX, FileDescriptorTransport
from tcpbridge.service import BridgeService, makeBridges
from tcpbridge.trace import FROM_HOST, FROM_PEER, TO_HOST, TO_PEER
from tests.hostside import (
    BridgeHarness,
    Flood,
    Receiver,
    buffered,
    connectionOutcome,
    openHost,
    poll,
)

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n\r\nOK\r\n"
ETX = b"\x03"

#: Connection attempts from a refused address, and how many at once.
ATTEMPTS = 1000
AT_ONCE = 50


def openFiles() -> int:
    """
    How many file descriptors this process has open.
    """
    return len(os.listdir("/proc/self/fd"))


def resetOnClose(peer: Receiver) -> None:
    """
    Make the peer's close a reset (RST) rather than a FIN.
    """
    peer.transport.getHandle().setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )


def makePty() -> Tuple[int, int]:
    """
    A fresh pseudo-terminal, raw, standing for a USB serial adapter: the
    master is the host's end, the slave the device the bridge opens.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


def pointAt(link: str, target: str) -> None:
    """
    Make C{link} a symbolic link to C{target}, atomically (as udev does).
    """
    temporary = link + ".new"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(target, temporary)
    os.replace(temporary, link)


class RobustnessTests(TestCase, BridgeHarness):
    """
    The service keeps its sessions, its serial line and its file
    descriptors whatever its two sides do.
    """

    timeout = 60

    # -- the pieces -------------------------------------------------------

    def captureLog(self) -> List[str]:
        """
        Collect the text of every log event from now to the end of the test.
        """
        lines: List[str] = []

        def observe(event: dict) -> None:
            lines.append(formatEvent(event) or "")

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        return lines

    @inlineCallbacks
    def open(
        self, tcpserv: str = "255.255.255.255", **kwargs: Any
    ) -> Generator[Deferred, Any, Tuple[Any, Receiver, Receiver, int]]:
        """
        A bridge with a session open (DLEMODE 1); return the service, the
        host, the peer (from 127.0.0.2) and the port.
        """
        service, host = self.startBridge(**kwargs)
        yield self.hello(host)
        port = yield self.listen(host, tcpserv=tcpserv)
        peer = yield self.session(host, port, "127.0.0.2")
        return service, host, peer, port

    @inlineCallbacks
    def bothWays(self, host: Receiver, peer: Receiver) -> Generator[Deferred, Any, None]:
        """
        Data still flows each way through the session.
        """
        peer.write(b"to the host")
        self.assertEqual((yield host.count(11)), b"to the host")
        host.write(b"to the peer")
        self.assertEqual((yield peer.count(11)), b"to the peer")
        self.assertIsNone(peer.lostReason)

    @inlineCallbacks
    def attempts(self, port: int, source: str) -> Generator[Deferred, Any, List[str]]:
        """
        L{ATTEMPTS} connections from C{source}, L{AT_ONCE} at a time; fire
        with each outcome (see L{connectionOutcome}).
        """
        outcomes: List[str] = []
        for _ in range(ATTEMPTS // AT_ONCE):
            batch = yield gatherResults(
                [connectionOutcome(reactor, port, source) for _ in range(AT_ONCE)],
                consumeErrors=True,
            )
            outcomes.extend(batch)
        return outcomes

    def assertFilesSettle(self, before: int) -> "Deferred[object]":
        """
        Wait until this process has as many open files as C{before}, and
        fail if it does not come back to that.
        """

        def check(_: object) -> None:
            self.assertEqual(openFiles(), before, "file descriptors leaked")

        d = poll(reactor, lambda: openFiles() <= before, "the open files to settle")
        return d.addErrback(lambda f: None).addCallback(check)

    def hostOn(self, master: int, name: str = "host") -> Receiver:
        """
        Play the host on a pty master the test made (closed at clean-up).
        """
        host = Receiver(reactor, name)
        FileDescriptorTransport(master, host, reactor)
        self.addCleanup(host.close)
        return host

    def deviceBridge(self, link: str) -> BridgeService:
        """
        Start a bridge on the real device path C{link} (stopped at clean-up).
        """
        config = BridgeConfig(name="usb", device=link, interface="127.0.0.1")
        service = BridgeService(config, reactor)
        service.startService()
        self.addCleanup(lambda: service.stopService() if service.running else None)
        return service

    # -- refused connections ----------------------------------------------

    @inlineCallbacks
    def test_refusedFloodDuringSession(self) -> Generator[Deferred, Any, None]:
        """
        1,000 connection attempts from a refused address during a session leave the session intact
        and no file descriptor behind.
        """
        service, host, peer, port = yield self.open(tcpserv="127.0.0.2")
        before = openFiles()
        outcomes = yield self.attempts(port, "127.0.0.3")
        self.assertEqual(len(outcomes), ATTEMPTS)
        self.assertEqual(set(outcomes) - {"refused", "dropped"}, set())
        yield self.assertFilesSettle(before)
        self.assertEqual((yield host.quiet(0.1)), b"", "the host was shown the attempts")
        yield self.bothWays(host, peer)

    @inlineCallbacks
    def test_refusedFloodWhileListening(self) -> Generator[Deferred, Any, None]:
        """
        1,000 connections from a refused address while listening are each dropped without a byte,
        leak nothing, and the admitted peer still opens a session.
        """
        service, host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host, tcpserv="127.0.0.2")
        before = openFiles()
        outcomes = yield self.attempts(port, "127.0.0.3")
        self.assertEqual(set(outcomes), {"dropped"})
        yield self.assertFilesSettle(before)
        self.assertEqual((yield host.quiet(0.1)), b"", "the host was shown the attempts")
        peer = yield self.session(host, port, "127.0.0.2")
        yield self.bothWays(host, peer)

    # -- peers that misbehave -----------------------------------------------

    @inlineCallbacks
    def test_peerResetsMidTransfer(self) -> Generator[Deferred, Any, None]:
        """
        A peer that resets in the middle of sending: the host gets what the service received, then
        ETX, Ok_Info_SocketClosed and OK, and command mode works.
        """
        service, host, peer, port = yield self.open()
        data = os.urandom(8 << 20)
        peer.write(data)
        yield poll(reactor, lambda: len(host.received) - host.cursor >= 256 << 10, "256 kB")
        resetOnClose(peer)
        peer.transport.abortConnection()
        received = yield host.until(CLOSED, 20)
        self.assertTrue(received.endswith(ETX + CLOSED), received[-60:])
        payload, rest = dle.Decoder().feed(received[: -len(CLOSED)])
        self.assertEqual(rest, b"", "something after the session's ETX")
        self.assertGreaterEqual(len(payload), 256 << 10)
        self.assertTrue(data.startswith(payload), "the host got bytes the peer did not send")
        self.assertEqual((yield host.quiet(0.2)), b"")
        self.assertEqual((yield host.command(b"AT")), OK)
        self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)

    @inlineCallbacks
    def test_peerResetsWhileHostSends(self) -> Generator[Deferred, Any, None]:
        """
        A peer that resets while the host is sending: the host is told the session closed, and
        command mode works once its leftover bytes are done.
        """
        service, host, peer, port = yield self.open()
        flood = Flood(reactor, host.transport, b"y" * (64 << 20))
        self.addCleanup(flood.stop)
        yield poll(reactor, lambda: len(peer.received) >= 256 << 10, "256 kB at the peer")
        resetOnClose(peer)
        peer.transport.abortConnection()
        self.assertEqual((yield host.until(CLOSED, 20)), ETX + CLOSED)
        flood.stop()
        self.assertTrue(peer.received.count(b"y") == len(peer.received), "the peer got noise")
        # The host's leftover bytes are one (overlong) command line, ended here.
        host.write(b"\rAT\r")
        self.assertIn((yield host.until(OK)), (OK, ERROR + OK))
        self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)

    @inlineCallbacks
    def test_silentPeer(self) -> Generator[Deferred, Any, None]:
        """
        A peer that connects and sends nothing keeps the session open, and the host's data then
        reaches it.
        """
        service, host, peer, port = yield self.open()
        self.assertEqual((yield host.quiet(0.3)), b"")
        host.write(b"anyone there?")
        self.assertEqual((yield peer.count(13)), b"anyone there?")
        peer.write(b"yes")
        self.assertEqual((yield host.count(3)), b"yes")

    # -- the serial line ------------------------------------------------------

    @inlineCallbacks
    def test_commandModeNoise(self) -> Generator[Deferred, Any, None]:
        """
        A megabyte of random bytes in command mode draws only ERRORs, and the AT sent after it is
        answered OK; the bridge still opens sessions.
        """
        service, host = self.startBridge()
        yield self.hello(host)
        # No "A": no command, no "A/" can form, whatever the noise holds.
        noise = os.urandom(1 << 20).replace(b"A", b"").replace(b"a", b"")
        host.write(noise + b"\rAT\r")
        response = yield host.until(OK, 30)
        self.assertEqual(response.replace(ERROR, b""), OK)
        self.assertGreater(response.count(ERROR), 0)
        self.assertEqual((yield host.quiet(0.2)), b"")
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        yield self.bothWays(host, peer)

    @inlineCallbacks
    def test_deviceLostAndBack(self) -> Generator[Deferred, Any, None]:
        """
        A serial device that goes away ends the session with a FIN and is logged; when it comes
        back it is reopened, answering AT with its parameters kept.
        """
        log = self.captureLog()
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        link = os.path.join(directory, "ttyUSB0")
        master, slave = makePty()
        pointAt(link, os.ttyname(slave))
        service = self.deviceBridge(link)
        self.assertIsNotNone(service.transport, "the device was not opened")
        host = self.hostOn(master)
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        peer.write(b"ping")
        self.assertEqual((yield host.count(4)), b"ping")

        # The adapter is pulled out.
        host.transport.connectionLost(Failure(ConnectionDone("unplugged")))
        os.close(slave)
        self.assertIsInstance((yield peer.closed()), ConnectionDone)
        yield poll(reactor, lambda: any("lost" in line and "usb" in line for line in log), "a log")

        # It comes back, on another pty.
        master, slave = makePty()
        self.addCleanup(os.close, slave)
        pointAt(link, os.ttyname(slave))
        yield poll(reactor, lambda: service.transport is not None, "the device to reopen")
        host = self.hostOn(master, "host again")
        host.write(b"AT\r")
        self.assertTrue((yield host.result()).endswith(OK))
        host.write(b"AT#TCPPORT?\r")
        self.assertIn(b"#TCPPORT: %d\r\n" % (port,), (yield host.result()))
        host.write(b"AT#VSTATE\r")
        self.assertIn(b'"IDLE"', (yield host.result()))
        # The lost session freed its port: listening on it works again.
        host.write(b"AT#LTCPSTART\r")
        self.assertTrue((yield host.result()).endswith(OK))
        again = yield self.session(host, port, "127.0.0.4")
        again.write(b"pong")
        self.assertEqual((yield host.count(4)), b"pong")

    @inlineCallbacks
    def test_deviceAppearsLater(self) -> Generator[Deferred, Any, None]:
        """
        A serial device missing at start is tried again and opened when it appears.
        """
        log = self.captureLog()
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        link = os.path.join(directory, "ttyUSB0")
        service = self.deviceBridge(link)
        self.assertIsNone(service.transport)
        self.assertTrue(service.running, "a missing device stopped the service")
        yield poll(reactor, lambda: any("cannot open" in line for line in log), "a log")

        master, slave = makePty()
        self.addCleanup(os.close, slave)
        pointAt(link, os.ttyname(slave))
        yield poll(reactor, lambda: service.transport is not None, "the device to open")
        host = self.hostOn(master)
        host.write(b"AT\r")
        self.assertEqual((yield host.result()), b"AT\r" + OK)

    @inlineCallbacks
    def test_stopWhileHostNotReading(self) -> Generator[Deferred, Any, None]:
        """
        Stopping the service completes even when the host reads nothing and bytes wait for it.
        """
        service, host, peer, port = yield self.open()
        host.transport.pauseProducing()
        peer.write(os.urandom(4 << 20))
        yield poll(reactor, lambda: buffered(service.transport) > 0, "bytes for the host")
        stopped = service.stopService()
        try:
            yield poll(reactor, lambda: stopped.called, "stopService", timeout=3)
            finished = True
        except AssertionError:
            finished = False
            # Let it finish, so nothing is left behind for the next test.
            host.transport.resumeProducing()
            yield stopped
        self.assertTrue(finished, "stopService waits for a host that reads nothing")


    # -- many bridges, and the trace ------------------------------------------

    @inlineCallbacks
    def test_manyBridges(self) -> Generator[Deferred, Any, None]:
        """
        256 pty bridges in one MultiService all start, each on its own pty, and a handful of them
        answer AT.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        configs = [
            BridgeConfig(
                name="b%03d" % (i,),
                device=PTY_PREFIX + os.path.join(directory, "host%03d" % (i,)),
                interface="127.0.0.1",
            )
            for i in range(256)
        ]
        top = makeBridges(configs, reactor)
        top.startService()
        self.addCleanup(top.stopService)
        services = list(top)
        self.assertEqual(len(services), 256)
        self.assertTrue(all(s.running and s.transport is not None for s in services))
        links = [c.device[len(PTY_PREFIX) :] for c in configs]
        self.assertEqual(len({os.readlink(link) for link in links}), 256, "ptys shared")
        for i in (0, 1, 100, 254, 255):
            host = openHost(links[i], reactor, "host %d" % (i,))
            self.addCleanup(host.close)
            self.assertEqual((yield host.command(b"ATE0")), b"ATE0\r" + OK)
            self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)

    @inlineCallbacks
    def test_traceFile(self) -> Generator[Deferred, Any, None]:
        """
        The trace file records what crossed the bridge in each direction, byte for byte.
        """
        path = os.path.abspath(self.mktemp())
        service, host, peer, port = yield self.open(trace=path)
        peer.write(b"ping\x03")
        self.assertEqual((yield host.count(6)), b"ping\x10\x03")
        host.write(b"pong\x10\x10" + ETX)
        self.assertEqual((yield peer.count(5)), b"pong\x10")
        yield peer.closed()
        self.assertEqual((yield host.until(CLOSED)), CLOSED)

        crossed = {FROM_HOST: b"", TO_HOST: b"", FROM_PEER: b"", TO_PEER: b""}
        with open(path, "rb") as f:
            lines = f.read().decode("ascii").splitlines()
        for line in lines:
            stamp, direction, count, rest = line.split(None, 3)
            hexdump, printable = rest.split("  |", 1)
            data = bytes.fromhex(hexdump)
            self.assertEqual(len(data), int(count), line)
            self.assertTrue(stamp.endswith("Z"), line)
            crossed[direction] += data
        self.assertIn(b"ATE0\r", crossed[FROM_HOST])
        self.assertIn(b"AT#LTCPSTART\r", crossed[FROM_HOST])
        self.assertTrue(crossed[FROM_HOST].endswith(b"pong\x10\x10\x03"))
        self.assertEqual(crossed[FROM_PEER], b"ping\x03")
        self.assertEqual(crossed[TO_PEER], b"pong\x10")
        self.assertIn(b"\r\nOk_Info_WaitingForData\r\n" + b"ping\x10\x03", crossed[TO_HOST])
        self.assertTrue(crossed[TO_HOST].endswith(CLOSED))


class ConfigErrorTests(SynchronousTestCase):
    """
    A bad configuration stops C{makeService} with one line on stderr that
    names the file, the section and the key, and no traceback.
    """

    def refused(self, text: Optional[str], *parts: str, path: Optional[str] = None) -> str:
        """
        Run C{makeService} on C{text} (written to a file, unless C{path} is
        given); assert it exits with one line naming the file and each of
        C{parts}; return the line.
        """
        if path is None:
            path = os.path.abspath(self.mktemp())
            with open(path, "w", encoding="utf-8") as f:
                f.write(text or "")
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        error = self.assertRaises(SystemExit, tap.makeService, {"config": path})
        self.assertNotIn(error.code, (0, None))
        output = stderr.getvalue()
        self.assertEqual(output.count("\n"), 1, output)
        self.assertTrue(output.endswith("\n"), output)
        self.assertNotIn("Traceback", output)
        for part in (path,) + parts:
            self.assertIn(part, output)
        return output

    def bridge(self, *lines: str, name: str = "one") -> str:
        """
        The text of one bridge section with a C{pty:} device and C{lines}.
        """
        device = "device = pty:%s" % (os.path.abspath(self.mktemp()),)
        return "\n".join(["[bridge:%s]" % (name,), device] + list(lines)) + "\n"

    def test_unknownKey(self) -> None:
        """
        An unknown key is named with its section.
        """
        self.refused(self.bridge("colour = blue"), "[bridge:one]", "colour")

    def test_badNumber(self) -> None:
        """
        A key that must be a number and is not is named with its section.
        """
        self.refused(self.bridge("baudrate = fast"), "[bridge:one]", "baudrate")

    def test_missingDevice(self) -> None:
        """
        A bridge without a device names the section and the missing key.
        """
        self.refused("[bridge:one]\nbaudrate = 9600\n", "[bridge:one]", "device")

    def test_duplicateSection(self) -> None:
        """
        The same bridge section twice is named.
        """
        self.refused(self.bridge() + self.bridge(), "[bridge:one]")

    def test_duplicateBridgeName(self) -> None:
        """
        Two sections giving one bridge name (spaces aside) are named.
        """
        output = self.refused(self.bridge() + self.bridge(name=" one "), "[bridge: one ]")
        self.assertIn("duplicate", output)

    def test_badAllow(self) -> None:
        """
        An allow list entry that is not a network is named with its key.
        """
        self.refused(self.bridge("allow = 127.0.0.0/33"), "[bridge:one]", "allow", "127.0.0.0/33")

    def test_emptyAllow(self) -> None:
        """
        An empty allow list is refused rather than taken to mean nobody or everybody.
        """
        self.refused(self.bridge("allow ="), "[bridge:one]", "allow")

    def test_badTcpport(self) -> None:
        """
        A tcpport out of range is named with its section.
        """
        self.refused(self.bridge("tcpport = 70000"), "[bridge:one]", "tcpport")

    def test_missingFile(self) -> None:
        """
        A configuration file that does not exist is named.
        """
        self.refused(None, path=os.path.abspath(self.mktemp()))

    def test_unreadableFile(self) -> None:
        """
        A configuration path that cannot be read as a file is named.
        """
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        self.refused(None, path=path)

    def test_notText(self) -> None:
        """
        A configuration file that is not UTF-8 text is named.
        """
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(b"[bridge:one]\ndevice = \xff\xfe\n")
        self.refused(None, path=path)
