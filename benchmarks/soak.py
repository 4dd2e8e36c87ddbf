#!/usr/bin/env python3
"""
Soak test of tcpbridge: many bridges in one service, data both ways on every
session for a long while, sessions closed and reopened all along.

One tcpbridge process runs N bridges, each on a pty made by the service
(``device = pty:<tmpdir>/hostN``).  This process plays every host on the
link paths and every peer on loopback TCP, all from one ``selectors`` event
loop (no threads).  Each session moves a deterministic pseudo-random stream
each way at a set rate, DLE-coded on the host side (DLEMODE 1), and every
byte received is checked against the stream it must belong to, so a lost,
duplicated, reordered or altered byte is counted as an error.  Sessions are
closed every few seconds, by the host (a bare ETX) or by the peer (a FIN),
and reopened with ``AT#LTCPSTART``.

Every ``--report-every`` seconds one line shows the bytes moved each way,
sessions opened and closed, errors, and the service's RSS and open file
descriptors.  At the end every session is closed, the bridges are left idle,
and a summary compares RSS and fds with the start (also idle).  The exit
status is non-zero if any error was counted or the service died.

Run it with the Python of the environment tcpbridge is installed in::

    python benchmarks/soak.py [--bridges N] [--seconds S] [--rate KBps]
                              [--report-every S]

The service runs the tcpbridge this script imports: ``PYTHONPATH=DIR``
measures the checkout in DIR (an earlier version, say) with the same script.
Only the standard library and ``tcpbridge.dle`` are used, and all traffic is
on 127.0.0.1.
"""

import argparse
import errno
import importlib
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

KB = 1024
MB = 1 << 20

LOOPBACK = "127.0.0.1"
OK = b"\r\nOK\r\n"
WAITING = b"\r\nOk_Info_WaitingForData\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n\r\nOK\r\n"
ETX = b"\x03"

#: Seconds any single wait (a command's answer, a close, a connect) may last.
STEP_TIMEOUT = 15.0
#: Seconds with bytes outstanding in one direction and none arriving: a stall.
STALL_TIMEOUT = 10.0
#: Seconds the service may take to make every pty link.
START_TIMEOUT = 30.0
#: Seconds the final close of every session may take.
DRAIN_TIMEOUT = 30.0
#: Seconds between RSS samples (for the peak).
RSS_PERIOD = 0.2
#: Seconds of one loop turn at most (the rate is paced from it).
TICK = 0.01
#: Largest payload chunk generated at once, each side.
CHUNK = 16 * KB
#: Bytes waiting to be written at most before no more is generated.
OUT_HIGH = 64 * KB
#: Error messages printed as they happen (the rest are only counted).
ERRORS_SHOWN = 30

CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the data ------------------------------------------------------------------


class Pattern:
    """
    A pseudo-random pattern of an odd size, rich in DLE and ETX bytes (about
    5% each, so the DLE coding is exercised), doubled so that any window of
    up to its size is one contiguous slice.
    """

    SIZE = (1 << 20) + 3

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        table = bytearray(range(256))
        for i in range(12):
            table[i] = 0x10
        for i in range(12, 24):
            table[i] = 0x03
        data = rng.randbytes(self.SIZE).translate(bytes(table))
        self.view = memoryview(data + data)

    def window(self, offset: int, n: int) -> memoryview:
        o = offset % self.SIZE
        return self.view[o:o + n]


class StreamOut:
    """
    One direction of one session, as sent: the pattern from a random start.
    """

    def __init__(self, pattern: Pattern, start: int) -> None:
        self.pattern = pattern
        self.start = start
        self.pos = 0

    def take(self, n: int) -> bytes:
        data = bytes(self.pattern.window(self.start + self.pos, n))
        self.pos += n
        return data


class StreamIn:
    """
    The same direction as received: checks each chunk against the pattern.
    """

    def __init__(self, pattern: Pattern, start: int) -> None:
        self.pattern = pattern
        self.start = start
        self.pos = 0
        self.broken = False

    def check(self, data: bytes) -> Optional[str]:
        """
        Check C{data}, the next bytes of the stream; a description of the
        first difference, or L{None}.  After one difference the stream is no
        longer checked (everything after it would differ too).
        """
        if self.broken or not data:
            self.pos += len(data)
            return None
        done = 0
        while done < len(data):
            n = min(len(data) - done, Pattern.SIZE)
            piece = data[done:done + n]
            expected = self.pattern.window(self.start + self.pos + done, n)
            if piece != expected:
                i = next(k for k in range(n) if piece[k] != expected[k])
                at = self.pos + done + i
                self.broken = True
                self.pos += len(data)
                return "byte %d is %r, expected %r (got %r, expected %r)" % (
                    at,
                    bytes(piece[i:i + 1]),
                    bytes(expected[i:i + 1]),
                    bytes(piece[max(0, i - 4):i + 12]),
                    bytes(expected[max(0, i - 4):i + 12]),
                )
            done += n
        self.pos += len(data)
        return None


# -- the service ---------------------------------------------------------------


def rssBytes(pid: int) -> Optional[int]:
    try:
        with open("/proc/%d/status" % (pid,)) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def fdCount(pid: int) -> Optional[int]:
    try:
        return len(os.listdir("/proc/%d/fd" % (pid,)))
    except OSError:
        return None


def fdTargets(pid: int) -> Dict[str, str]:
    """
    What each open descriptor of process C{pid} is (its /proc link).
    """
    found: Dict[str, str] = {}
    try:
        names = os.listdir("/proc/%d/fd" % (pid,))
    except OSError:
        return found
    for name in names:
        try:
            found[name] = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            pass
    return found


def cpuSeconds(pid: int) -> Optional[float]:
    try:
        with open("/proc/%d/stat" % (pid,)) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def freePorts(n: int) -> List[int]:
    """
    C{n} loopback ports free right now, taken below the kernel's ephemeral
    range, so that no peer connection of this soak can ever be given one of
    them as its local port while its bridge is between two sessions.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = low - 1 if low > 2048 else 65535
    candidates = list(range(max(1024, top - 8000), top + 1))
    random.shuffle(candidates)
    ports = []
    for port in candidates:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            continue
        finally:
            s.close()
        ports.append(port)
        if len(ports) == n:
            return ports
    raise SystemExit("soak: not enough free loopback ports below %d" % (top + 1,))


def serviceEnv() -> Dict[str, str]:
    """
    The environment to start tcpbridge in: the directory of the tcpbridge
    this script imports goes first on C{PYTHONPATH}, so that twistd finds
    the plugin beside it (an editable install does not show it to twistd;
    C{PYTHONPATH=DIR} runs the soak on the checkout in DIR).
    """
    tcpbridge = importlib.import_module("tcpbridge")
    root = os.path.dirname(os.path.dirname(os.path.abspath(tcpbridge.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


class Service:
    """
    The tcpbridge process, in its own session (process group).
    """

    def __init__(self, workdir: str, ini: str) -> None:
        self.logPath = os.path.join(workdir, "tcpbridge.log")
        self._logOffset = 0
        log = open(self.logPath, "wb")
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                    "-n", "--pidfile=", "tcpbridge", "--config", ini,
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=workdir, start_new_session=True, env=serviceEnv(),
            )
        finally:
            log.close()
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> Tuple[Optional[int], str]:
        """
        SIGTERM, then SIGKILL; never an unbounded wait.  The exit status and
        how the process ended.
        """
        if self.proc.poll() is not None:
            return self.proc.returncode, "had already exited"
        for sig, wait, how in (
            (signal.SIGTERM, 10.0, "stopped on SIGTERM"),
            (signal.SIGKILL, 5.0, "did not stop on SIGTERM within 10 s: killed"),
        ):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                return self.proc.returncode, how
            except subprocess.TimeoutExpired:
                continue
        return self.proc.poll(), "could not be stopped"

    def logTail(self, lines: int = 5) -> str:
        try:
            with open(self.logPath, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n    ".join(text.strip().splitlines()[-lines:])

    def newProblems(self) -> List[str]:
        """
        Tracebacks and unhandled errors logged since the last call.
        """
        try:
            with open(self.logPath, "rb") as f:
                f.seek(self._logOffset)
                text = f.read()
        except OSError:
            return []
        # Only complete lines; a partial last line is read again next time.
        end = text.rfind(b"\n") + 1
        self._logOffset += end
        found = []
        lines = text[:end].decode("utf-8", "replace").splitlines()
        for i, line in enumerate(lines):
            if "Traceback" in line or "Unhandled" in line or "CRITICAL" in line:
                found.append(" | ".join(s.strip() for s in lines[i:i + 12]))
        return found


# -- one bridge: a host on the pty, a peer on TCP --------------------------------

SETUP = "setup"
READY = "ready"
LISTEN = "listen"
CONNECTING = "connecting"
DATA = "data"
HOST_CLOSING = "host-closing"
PEER_DRAINING = "peer-draining"
PEER_CLOSING = "peer-closing"
DEAD = "dead"


class Bridge:
    def __init__(self, soak: "Soak", index: int, link: str, port: int) -> None:
        self.soak = soak
        self.name = "b%d" % (index,)
        self.link = link
        self.port = port
        self.fd = -1
        self.state = SETUP
        self.deadline = 0.0
        self.commands: List[bytes] = []
        self.command = b""
        self.hostIn = bytearray()
        self.hostOut = bytearray()
        self.hostEvents = 0
        self.peer: Optional[socket.socket] = None
        self.peerOut = bytearray()
        self.peerEvents = 0
        self.peerConnected = False
        self.peerEof = False
        self.peerShut = False
        self.hostDone = False
        self.unexpected = False
        #: The host's DLE decoder (tcpbridge.dle.Decoder), None between a
        #: closing ETX and the result codes that follow it.
        self.decoder: Any = None
        self.tail = bytearray()
        self.raw = bytearray()
        self.txHost: Optional[StreamOut] = None
        self.rxPeer: Optional[StreamIn] = None
        self.txPeer: Optional[StreamOut] = None
        self.rxHost: Optional[StreamIn] = None
        self.creditHost = 0.0
        self.creditPeer = 0.0
        self.closeAt = 0.0
        self.closeKind = "host"
        self.progressToPeer = 0.0
        self.progressToHost = 0.0
        self.sessions = 0

    # -- plumbing --

    def error(self, message: str) -> None:
        self.soak.error("%s [%s, session %d]: %s" % (self.name, self.state, self.sessions, message))

    def die(self, message: str) -> None:
        """
        Count an error and give up on this bridge (its host end is still read
        and discarded, so the service never blocks writing to it).
        """
        self.error(message + "; bridge abandoned")
        self.closePeer()
        self.state = DEAD
        self.hostOut.clear()
        self.updateHost()

    def openHost(self) -> None:
        self.fd = os.open(self.link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.hostEvents = selectors.EVENT_READ
        self.soak.sel.register(self.fd, self.hostEvents, (self, "host"))

    def updateHost(self) -> None:
        if self.fd < 0:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.hostOut else 0)
        if events != self.hostEvents:
            self.hostEvents = events
            self.soak.sel.modify(self.fd, events, (self, "host"))

    def updatePeer(self) -> None:
        if self.peer is None:
            return
        events = selectors.EVENT_READ
        if self.peerOut or not self.peerConnected:
            events |= selectors.EVENT_WRITE
        if events != self.peerEvents:
            self.peerEvents = events
            self.soak.sel.modify(self.peer, events, (self, "peer"))

    def hostWrite(self, data: bytes) -> None:
        self.hostOut += data
        self.flushHost()

    def flushHost(self) -> None:
        while self.hostOut:
            try:
                n = os.write(self.fd, self.hostOut[:65536])
            except BlockingIOError:
                break
            except OSError as e:
                self.die("host write failed: %s" % (e,))
                return
            del self.hostOut[:n]
        self.updateHost()

    def flushPeer(self) -> None:
        while self.peer is not None and self.peerConnected and self.peerOut:
            try:
                n = self.peer.send(self.peerOut[:65536])
            except BlockingIOError:
                break
            except OSError as e:
                self.peerOut.clear()
                if self.state == HOST_CLOSING:
                    # The service closed (after its FIN) and the peer was
                    # still sending: a reset is what TCP does then.
                    self.soak.resets += 1
                    self.peerEnded("reset")
                    return
                self.error("peer send failed: %s" % (e,))
                self.closeSession()
                return
            del self.peerOut[:n]
        if (
            self.state == PEER_CLOSING
            and not self.peerOut
            and not self.peerShut
            and self.peer is not None
        ):
            self.peerShut = True
            try:
                self.peer.shutdown(socket.SHUT_WR)
            except OSError as e:
                self.error("peer shutdown failed: %s" % (e,))
        self.updatePeer()

    def closePeer(self) -> None:
        if self.peer is not None:
            try:
                self.soak.sel.unregister(self.peer)
            except (KeyError, ValueError):
                pass
            self.peer.close()
            self.peer = None
        self.peerOut.clear()
        self.peerConnected = False

    # -- command mode --

    def startSetup(self, now: float) -> None:
        self.commands = [
            b"ATE0",
            b"AT+CMEE=1",
            b"AT#DLEMODE=1",
            b"AT#TCPPORT=%d" % (self.port,),
            b"AT#TCPTXDELAY=0",
        ]
        self.nextCommand(now)

    def nextCommand(self, now: float) -> None:
        line = self.commands.pop(0)
        self.command = line
        self.hostIn.clear()
        self.deadline = now + STEP_TIMEOUT
        self.hostWrite(line + b"\r")

    def startListen(self, now: float) -> None:
        self.state = LISTEN
        self.command = b"AT#LTCPSTART"
        self.hostIn.clear()
        self.deadline = now + STEP_TIMEOUT
        self.hostWrite(b"AT#LTCPSTART\r")

    def commandAnswer(self, now: float) -> None:
        if b"ERROR" in self.hostIn:
            self.die("%s answered %r" % (self.command.decode(), bytes(self.hostIn[-60:])))
            return
        i = self.hostIn.find(OK)
        if i < 0:
            return
        rest = bytes(self.hostIn[i + len(OK):])
        self.hostIn.clear()
        if rest:
            self.error("unexpected bytes after OK to %s: %r" % (self.command.decode(), rest[:60]))
        if self.state == SETUP:
            if self.commands:
                self.nextCommand(now)
            else:
                self.state = READY
        elif self.state == LISTEN:
            self.connectPeer(now)

    # -- a session --

    def connectPeer(self, now: float) -> None:
        self.state = CONNECTING
        self.deadline = now + STEP_TIMEOUT
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((LOOPBACK, 0))
        err = s.connect_ex((LOOPBACK, self.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.die("peer connect to port %d failed: %s" % (self.port, os.strerror(err)))
            return
        soak = self.soak
        if self.rxPeer is not None and self.rxHost is not None:
            soak.doneToPeer += self.rxPeer.pos
            soak.doneToHost += self.rxHost.pos
        self.peer = s
        self.peerConnected = False
        self.peerEof = False
        self.peerShut = False
        self.hostDone = False
        self.unexpected = False
        self.peerEvents = selectors.EVENT_READ | selectors.EVENT_WRITE
        self.soak.sel.register(s, self.peerEvents, (self, "peer"))
        pattern = self.soak.pattern
        a = random.randrange(Pattern.SIZE)
        b = random.randrange(Pattern.SIZE)
        self.txHost, self.rxPeer = StreamOut(pattern, a), StreamIn(pattern, a)
        self.txPeer, self.rxHost = StreamOut(pattern, b), StreamIn(pattern, b)
        self.decoder = self.soak.dle.Decoder()
        self.tail.clear()
        self.raw.clear()
        self.creditHost = self.creditPeer = 0.0
        self.sessions += 1

    def sessionOpen(self, now: float, rest: bytes) -> None:
        self.state = DATA
        self.soak.opened += 1
        lo, hi = self.soak.lifetime
        self.closeAt = now + random.uniform(lo, hi)
        self.closeKind = random.choice(("host", "peer"))
        self.progressToPeer = self.progressToHost = now
        if rest:
            self.hostData(now, rest)

    def startHostClose(self, now: float) -> None:
        """
        The host ends the session: a bare ETX after everything it sent.  The
        peer goes on sending until it sees the end.
        """
        self.state = HOST_CLOSING
        self.deadline = now + STEP_TIMEOUT
        self.raw.clear()
        self.hostWrite(ETX)

    def startPeerClose(self, now: float) -> None:
        """
        The peer ends the session: first the host stops sending and the peer
        takes all of it (so no host byte is left to be read as a command),
        then the peer stops sending and shuts its side (FIN).
        """
        self.state = PEER_DRAINING
        self.deadline = now + STEP_TIMEOUT

    def closeSession(self) -> None:
        """
        Something went wrong in a session: drop the peer and go on with a
        fresh one once the host is back in command mode.
        """
        self.unexpected = True
        self.closePeer()
        if self.state in (DATA, PEER_DRAINING, PEER_CLOSING):
            self.state = PEER_CLOSING
            self.peerEof = True
            self.deadline = time.monotonic() + STEP_TIMEOUT
        elif self.state == HOST_CLOSING:
            self.peerEof = True

    def peerEnded(self, how: str = "EOF") -> None:
        """
        The peer saw the end of the stream (EOF or reset).
        """
        assert self.rxPeer is not None and self.txHost is not None
        if self.state == HOST_CLOSING:
            if self.rxPeer.pos != self.txHost.pos:
                self.error(
                    "host closed: the peer got %d of the %d bytes the host sent before its ETX "
                    "(then %s)" % (self.rxPeer.pos, self.txHost.pos, how)
                )
        elif self.state != PEER_CLOSING:
            self.error("the peer's connection ended (%s) while the session was open" % (how,))
            self.unexpected = True
            self.state = PEER_CLOSING
            self.deadline = time.monotonic() + STEP_TIMEOUT
        self.peerEof = True
        self.closePeer()
        self.maybeFinish()

    def maybeFinish(self) -> None:
        if not (self.peerEof and self.hostDone):
            return
        byHost = self.state == HOST_CLOSING
        self.closePeer()
        self.soak.closed += 1
        if self.unexpected:
            self.soak.closedOther += 1
        elif byHost:
            self.soak.closedByHost += 1
        else:
            self.soak.closedByPeer += 1
        self.state = READY
        if not self.soak.stopping:
            self.startListen(time.monotonic())

    # -- events --

    def onHost(self, mask: int) -> None:
        now = time.monotonic()
        if mask & selectors.EVENT_WRITE:
            self.flushHost()
        if mask & selectors.EVENT_READ:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError as e:
                if self.state != DEAD:
                    self.die("host read failed: %s" % (e,))
                self.soak.sel.unregister(self.fd)
                os.close(self.fd)
                self.fd = -1
                return
            if not data:
                return
            self.hostInput(now, data)

    def hostInput(self, now: float, data: bytes) -> None:
        state = self.state
        if state in (SETUP, LISTEN):
            self.hostIn += data
            self.commandAnswer(now)
        elif state == CONNECTING:
            self.hostIn += data
            i = self.hostIn.find(WAITING)
            if i >= 0:
                rest = bytes(self.hostIn[i + len(WAITING):])
                head = bytes(self.hostIn[:i])
                self.hostIn.clear()
                if head:
                    self.error("unexpected bytes before Ok_Info_WaitingForData: %r" % (head[:60],))
                self.sessionOpen(now, rest)
            elif b"ERROR" in self.hostIn:
                self.die("error while listening: %r" % (bytes(self.hostIn[-60:]),))
        elif state in (DATA, PEER_DRAINING, PEER_CLOSING, HOST_CLOSING):
            self.hostData(now, data)
        elif state == READY:
            self.error("unexpected bytes in command mode: %r" % (data[:60],))
        # DEAD: discarded.

    def hostData(self, now: float, data: bytes) -> None:
        assert self.rxHost is not None
        if self.hostDone:
            self.error("unexpected bytes after the session's OK: %r" % (data[:60],))
            return
        if self.tail or (self.state == PEER_CLOSING and self.decoder is None):
            self.closeTail(data)
            return
        if self.state == HOST_CLOSING:
            # No ETX comes before the result codes when the host closes:
            # look for them in the raw bytes, decode what comes before.
            self.raw += data
            i = self.raw.find(CLOSED)
            if i < 0:
                keep = len(CLOSED) - 1
                if len(self.raw) > keep:
                    chunk = bytes(self.raw[:-keep])
                    del self.raw[:-keep]
                    self.decodeHost(now, chunk, closing=True)
                return
            chunk, rest = bytes(self.raw[:i]), bytes(self.raw[i + len(CLOSED):])
            self.raw.clear()
            self.decodeHost(now, chunk, closing=True)
            if self.decoder is not None and self.decoder.pending:
                self.error("host close: a lone DLE before Ok_Info_SocketClosed")
            if rest:
                self.error("host close: unexpected bytes after OK: %r" % (rest[:60],))
            self.hostDone = True
            self.maybeFinish()
            return
        self.decodeHost(now, data)

    def decodeHost(self, now: float, data: bytes, closing: bool = False) -> None:
        assert self.rxHost is not None and self.txPeer is not None
        payload, rest = self.decoder.feed(data)
        if payload:
            problem = self.rxHost.check(payload)
            if problem:
                self.error("peer->host data: " + problem)
            if self.rxHost.pos > self.txPeer.pos:
                self.error("peer->host: host got %d bytes, the peer sent %d"
                           % (self.rxHost.pos, self.txPeer.pos))
            self.progressToHost = now
        if rest is None:
            return
        # A bare ETX: the service says the connection is gone.
        if closing:
            self.error("host close: the service sent an ETX (as if the peer had closed)")
            self.decoder = self.soak.dle.Decoder()
            return
        elif self.state != PEER_CLOSING:
            self.error("session ended by the service while open (ETX after %d bytes)"
                       % (self.rxHost.pos,))
            self.unexpected = True
            self.state = PEER_CLOSING
            self.deadline = now + STEP_TIMEOUT
        elif not self.unexpected and self.rxHost.pos != self.txPeer.pos:
            self.error("peer closed: the host got %d of the %d bytes the peer sent"
                       % (self.rxHost.pos, self.txPeer.pos))
        self.decoder = None
        self.closeTail(rest)

    def closeTail(self, data: bytes) -> None:
        self.tail += data
        if len(self.tail) < len(CLOSED):
            if not CLOSED.startswith(bytes(self.tail)):
                self.error("after the ETX: %r, expected %r" % (bytes(self.tail), CLOSED))
                self.tail.clear()
            return
        if not self.tail.startswith(CLOSED):
            self.error("after the ETX: %r, expected %r" % (bytes(self.tail[:60]), CLOSED))
        elif len(self.tail) > len(CLOSED):
            self.error("unexpected bytes after OK: %r" % (bytes(self.tail[len(CLOSED):60]),))
        self.tail.clear()
        self.decoder = self.soak.dle.Decoder()
        self.hostDone = True
        self.maybeFinish()

    def onPeer(self, mask: int) -> None:
        if self.peer is None:
            return
        now = time.monotonic()
        if not self.peerConnected and mask & (selectors.EVENT_WRITE | selectors.EVENT_READ):
            err = self.peer.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.die("peer connect to port %d failed: %s" % (self.port, os.strerror(err)))
                return
            self.peerConnected = True
            self.progressToHost = now
        if mask & selectors.EVENT_WRITE:
            self.flushPeer()
        if self.peer is not None and mask & selectors.EVENT_READ:
            try:
                data = self.peer.recv(65536)
            except BlockingIOError:
                return
            except ConnectionResetError:
                if self.state == HOST_CLOSING:
                    self.soak.resets += 1
                self.peerEnded("reset")
                return
            if not data:
                self.peerEnded()
                return
            assert self.rxPeer is not None and self.txHost is not None
            problem = self.rxPeer.check(data)
            if problem:
                self.error("host->peer data: " + problem)
            if self.rxPeer.pos > self.txHost.pos:
                self.error("host->peer: the peer got %d bytes, the host sent %d"
                           % (self.rxPeer.pos, self.txHost.pos))
            self.progressToPeer = now

    # -- time --

    def tick(self, now: float, dt: float) -> None:
        state = self.state
        if state in (SETUP, LISTEN, CONNECTING, HOST_CLOSING, PEER_DRAINING, PEER_CLOSING):
            if now > self.deadline:
                self.die(
                    "timed out (%.0f s) waiting: %s"
                    % (STEP_TIMEOUT, self.waitingFor())
                )
                return
        if state == DATA and (now >= self.closeAt or self.soak.stopping):
            if self.closeKind == "host":
                self.startHostClose(now)
            else:
                self.startPeerClose(now)
            state = self.state
        rate = self.soak.rate
        # Host -> peer, DLE-coded on the line.
        if state == DATA and self.txHost is not None:
            self.creditHost = min(self.creditHost + rate * dt, rate * 0.25)
            if self.creditHost >= 256 and len(self.hostOut) < OUT_HIGH:
                n = int(min(self.creditHost, CHUNK))
                self.creditHost -= n
                self.hostWrite(self.soak.dle.encode(self.txHost.take(n)))
        # Peer -> host.
        if (
            state in (DATA, HOST_CLOSING, PEER_DRAINING)
            and self.peerConnected
            and self.txPeer is not None
        ):
            self.creditPeer = min(self.creditPeer + rate * dt, rate * 0.25)
            if self.creditPeer >= 256 and len(self.peerOut) < OUT_HIGH:
                n = int(min(self.creditPeer, CHUNK))
                self.creditPeer -= n
                self.peerOut += self.txPeer.take(n)
                self.flushPeer()
        if self.state == PEER_DRAINING:
            assert self.rxPeer is not None and self.txHost is not None
            if not self.hostOut and self.rxPeer.pos == self.txHost.pos:
                self.state = PEER_CLOSING
                self.deadline = now + STEP_TIMEOUT
                self.flushPeer()
        # Stalls: bytes outstanding one way and nothing arriving.
        if self.state in (DATA, PEER_DRAINING) and self.txHost is not None:
            assert self.rxPeer is not None and self.rxHost is not None
            assert self.txPeer is not None
            if self.rxPeer.pos >= self.txHost.pos:
                self.progressToPeer = now
            if self.rxHost.pos >= self.txPeer.pos:
                self.progressToHost = now
            for direction, since, got, sent in (
                ("host->peer", self.progressToPeer, self.rxPeer.pos, self.txHost.pos),
                ("peer->host", self.progressToHost, self.rxHost.pos, self.txPeer.pos),
            ):
                if now - since > STALL_TIMEOUT:
                    self.die(
                        "%s stalled: nothing for %.0f s with %d bytes outstanding "
                        "(received %d of %d)"
                        % (direction, now - since, sent - got, got, sent)
                    )
                    return

    def waitingFor(self) -> str:
        s = self.state
        if s in (SETUP, LISTEN):
            return "the answer to %s (got %r)" % (self.command.decode(), bytes(self.hostIn[-60:]))
        if s == CONNECTING:
            return "Ok_Info_WaitingForData (peer connected: %s, host got %r)" % (
                self.peerConnected, bytes(self.hostIn[-60:]))
        parts = []
        if s == PEER_DRAINING and self.rxPeer is not None and self.txHost is not None:
            parts.append("the peer to get the host's bytes (%d of %d, %d not yet written)"
                         % (self.rxPeer.pos, self.txHost.pos, len(self.hostOut)))
        if not self.hostDone and s != PEER_DRAINING:
            seen = self.raw if s == HOST_CLOSING else self.tail
            parts.append("Ok_Info_SocketClosed on the host (last bytes %r)" % (bytes(seen[-40:]),))
        if not self.peerEof and s != PEER_DRAINING:
            parts.append("the peer's end of stream")
        return ", ".join(parts) or s


# -- the soak ------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        from tcpbridge import dle

        self.dle = dle
        self.args = args
        self.rate = args.rate * KB
        self.lifetime = (0.5 * args.cycle, 1.5 * args.cycle)
        self.pattern = Pattern(args.seed)
        self.sel = selectors.DefaultSelector()
        self.errors = 0
        self.errorLines: List[str] = []
        self.opened = self.closed = 0
        self.closedByHost = self.closedByPeer = self.closedOther = 0
        self.resets = 0
        self.doneToPeer = self.doneToHost = 0
        self.stopping = False
        self.started = time.monotonic()
        self.bridges: List[Bridge] = []
        self.service: Optional[Service] = None
        self.workdir = ""
        self.serviceDied = False

    def error(self, message: str) -> None:
        self.errors += 1
        line = "[%7.1fs] ERROR %s" % (time.monotonic() - self.t0, message) if hasattr(
            self, "t0") else "ERROR " + message
        self.errorLines.append(line)
        if self.errors <= ERRORS_SHOWN:
            print(line, flush=True)
        elif self.errors == ERRORS_SHOWN + 1:
            print("(further errors are only counted)", flush=True)

    def moved(self) -> Tuple[int, int]:
        toPeer = self.doneToPeer + sum(b.rxPeer.pos for b in self.bridges if b.rxPeer)
        toHost = self.doneToHost + sum(b.rxHost.pos for b in self.bridges if b.rxHost)
        return toPeer, toHost

    def run(self) -> int:
        args = self.args
        self.workdir = tempfile.mkdtemp(prefix="tcpbridge-soak-")
        ports = freePorts(args.bridges)
        ini = os.path.join(self.workdir, "soak.ini")
        with open(ini, "w") as f:
            f.write("[DEFAULT]\ninterface = %s\ndlemode = 1\n\n" % (LOOPBACK,))
            for i in range(args.bridges):
                f.write(
                    "[bridge:b%d]\ndevice = pty:%s\ninterface = %s\n\n"
                    % (i, os.path.join(self.workdir, "host%d" % (i,)), LOOPBACK)
                )
        print(
            "tcpbridge soak: %d bridges, %.0f s, %g KB/s each way per session "
            "(%.2f MB/s each way in all), sessions last %.1f-%.1f s, reports every %g s"
            % (args.bridges, args.seconds, args.rate, args.bridges * self.rate / MB,
               self.lifetime[0], self.lifetime[1], args.report_every),
            flush=True,
        )
        wallStart = time.monotonic()
        self.service = service = Service(self.workdir, ini)
        pid = service.pid

        # The links, then the hosts.
        for i in range(args.bridges):
            self.bridges.append(
                Bridge(self, i, os.path.join(self.workdir, "host%d" % (i,)), ports[i])
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not service.alive():
                print("soak: the service exited at start-up (status %s):\n    %s"
                      % (service.proc.returncode, service.logTail(10)), file=sys.stderr)
                return 1
            missing = [b for b in self.bridges if not os.path.exists(b.link)]
            if not missing:
                break
            if time.monotonic() > deadline:
                print("soak: %d of %d links not made within %.0f s (first: %s):\n    %s"
                      % (len(missing), args.bridges, START_TIMEOUT, missing[0].link,
                         service.logTail(10)), file=sys.stderr)
                return 1
            time.sleep(0.05)
        startup = time.monotonic() - wallStart
        for b in self.bridges:
            b.openHost()

        # Set every line up (command mode), all at once.
        self.t0 = time.monotonic()
        now = time.monotonic()
        for b in self.bridges:
            b.startSetup(now)
        if not self.loop(lambda: all(b.state in (READY, DEAD) for b in self.bridges),
                         time.monotonic() + STEP_TIMEOUT + 5):
            return self.finish(1, "setup")
        setup = time.monotonic() - self.t0
        time.sleep(0.2)
        rssStart = rssBytes(pid)
        fdStart = fdCount(pid)
        fdsStart = fdTargets(pid)
        cpuStart = self.cpuStart = cpuSeconds(pid) or 0.0
        print("service pid %d up in %.2f s, %d lines set up in %.2f s; idle: RSS %.1f MB, %s fds"
              % (pid, startup, args.bridges, setup, (rssStart or 0) / MB, fdStart), flush=True)

        # The soak proper.
        self.doneToPeer = self.doneToHost = 0
        self.t0 = time.monotonic()
        self.lastReport = self.t0
        self.lastMoved = (0, 0)
        self.rssPeak = rssStart or 0
        self.rssSamples: List[Tuple[float, int]] = []
        self.fdMax = fdStart or 0
        self.lastCpu = (self.t0, cpuStart)
        now = time.monotonic()
        for b in self.bridges:
            if b.state == READY:
                b.startListen(now)
        end = self.t0 + args.seconds
        self.loop(lambda: time.monotonic() >= end, end + 1)
        if not self.serviceDied:
            # Close every session and leave every bridge idle.
            self.stopping = True
            drainStart = time.monotonic()
            if not self.loop(
                lambda: all(b.state in (READY, DEAD) for b in self.bridges),
                time.monotonic() + DRAIN_TIMEOUT,
            ):
                stuck = [b for b in self.bridges if b.state not in (READY, DEAD)]
                self.error("%d bridges not idle %.0f s after the end: %s" % (
                    len(stuck), DRAIN_TIMEOUT,
                    "; ".join("%s %s" % (b.name, b.state) for b in stuck[:5])))
            drain = time.monotonic() - drainStart
        else:
            drain = 0.0
        elapsed = time.monotonic() - self.t0
        self.report(time.monotonic(), final=True)
        time.sleep(0.5)  # let the service finish closing sockets
        rssEnd = rssBytes(pid)
        fdEnd = fdCount(pid)
        fdsEnd = fdTargets(pid)
        cpuEnd = cpuSeconds(pid)
        for problem in service.newProblems():
            self.error("service log: " + problem[:600])

        toPeer, toHost = self.moved()
        dead = [b for b in self.bridges if b.state == DEAD]
        print()
        print("summary")
        print("  run: %.1f s of traffic (+%.2f s to close every session at the end), "
              "%d bridges, target %g KB/s each way per session"
              % (elapsed - drain, drain, args.bridges, args.rate))
        print("  moved: host->peer %.1f MB (%.2f MB/s), peer->host %.1f MB (%.2f MB/s), "
              "all checked byte by byte"
              % (toPeer / MB, toPeer / MB / elapsed, toHost / MB, toHost / MB / elapsed))
        print("  sessions: %d opened, %d closed (%d by the host's ETX, %d by the peer, "
              "%d otherwise); %d peer resets after a host close"
              % (self.opened, self.closed, self.closedByHost, self.closedByPeer,
                 self.closedOther, self.resets))
        if rssStart and rssEnd:
            print("  service RSS: start %.1f MB, peak %.1f MB, end %.1f MB (end - start %+.1f MB)"
                  % (rssStart / MB, self.rssPeak / MB, rssEnd / MB,
                     (rssEnd - rssStart) / MB))
            if self.rssSamples:
                # Growth over the second half of the run, when warm.
                half = [r for t, r in self.rssSamples if t >= self.t0 + (elapsed - drain) / 2]
                if len(half) >= 2:
                    print("  service RSS over the second half: %.1f -> %.1f MB (max %.1f MB)"
                          % (half[0] / MB, half[-1] / MB, max(half) / MB))
        print("  service fds: start %s, end %s (idle both times), most seen %d"
              % (fdStart, "n/a" if fdEnd is None else fdEnd, self.fdMax))
        if cpuEnd is not None:
            print("  service CPU: %.2f s over %.1f s (%.0f%% of a core)"
                  % (cpuEnd - cpuStart, elapsed, 100 * (cpuEnd - cpuStart) / max(elapsed, 1e-9)))
        extra = sorted(
            "%s -> %s" % (fd, target) for fd, target in fdsEnd.items()
            if fdsStart.get(fd) != target
        )
        # Twisted opens /dev/null once, at the first listening socket, and
        # keeps it to recover from EMFILE (twisted.internet.tcp._reservedFD).
        reserved = [e for e in extra if e.endswith(" -> " + os.devnull)]
        if fdStart is not None and fdEnd is not None and len(reserved) == 1:
            print("  (%s is Twisted's reserved descriptor, opened once at the first listen; "
                  "not counted)" % (reserved[0],))
            fdEnd -= 1
            extra.remove(reserved[0])
        if fdStart is not None and fdEnd is not None and fdEnd > fdStart:
            self.error("the service holds %d more fds idle at the end than at the start: %s"
                       % (fdEnd - fdStart, ", ".join(extra[:10])))
        if dead:
            print("  bridges abandoned after an error: %s"
                  % (", ".join(b.name for b in dead),))
        status = 1 if self.errors or self.serviceDied else 0
        return self.finish(status, None)

    def finish(self, status: int, phase: Optional[str]) -> int:
        if phase is not None:
            stuck = [b for b in self.bridges if b.state not in (READY, DEAD)]
            for b in stuck[:5]:
                self.error("%s still %s at the end of %s: %s"
                           % (b.name, b.state, phase, b.waitingFor()))
        code, how = self.cleanup()
        if code is not None and how != "had already exited":
            try:
                with open(self.service.logPath, "rb") as f:  # type: ignore[union-attr]
                    clean = b"Main loop terminated" in f.read()
            except OSError:
                clean = False
            print("  service %s (exit status %s%s)" % (
                how, code,
                "; twistd re-raises the signal after its clean shutdown" if code == -15 else ""))
            if not clean and not self.serviceDied:
                self.error("the service's log does not show a clean shutdown:\n    %s"
                           % (self.service.logTail(8),))  # type: ignore[union-attr]
            if "SIGTERM" in how and "killed" in how:
                self.error("the service " + how)
        lingering = [b.link for b in self.bridges if os.path.lexists(b.link)]
        if lingering and not self.serviceDied:
            self.error("%d pty links left after the service stopped (first %s)"
                       % (len(lingering), lingering[0]))
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.errors:
            status = 1
        print("  errors: %d%s" % (self.errors, " (service died)" if self.serviceDied else ""))
        if self.errors > ERRORS_SHOWN:
            print("  last errors:")
            for line in self.errorLines[-5:]:
                print("    " + line)
        print("total time: %.1f s; %s" % (time.monotonic() - self.started,
                                          "FAILED" if status else "OK"))
        return status

    def cleanup(self) -> Tuple[Optional[int], str]:
        """
        Close the hosts and peers, stop the service.  Safe to call twice.
        """
        for b in self.bridges:
            b.closePeer()
            if b.fd >= 0:
                try:
                    self.sel.unregister(b.fd)
                except (KeyError, ValueError):
                    pass
                os.close(b.fd)
                b.fd = -1
        result: Tuple[Optional[int], str] = (None, "not started")
        if self.service is not None:
            # Keep the log while the links are checked; the caller removes it.
            result = self.service.stop()
        return result

    def loop(self, done, deadline: float) -> bool:
        """
        Run the event loop until C{done()} or the deadline; False at the
        deadline or if the service died.
        """
        assert self.service is not None
        last = time.monotonic()
        nextRss = last
        while True:
            if done():
                return True
            now = time.monotonic()
            if now > deadline:
                return False
            for key, mask in self.sel.select(TICK):
                bridge, side = key.data
                if side == "host":
                    bridge.onHost(mask)
                else:
                    bridge.onPeer(mask)
            now = time.monotonic()
            dt, last = now - last, now
            for b in self.bridges:
                if b.state != DEAD:
                    b.tick(now, dt)
            if now >= nextRss:
                nextRss = now + RSS_PERIOD
                if not self.service.alive():
                    self.serviceDied = True
                    self.error("the service died (exit status %s):\n    %s"
                               % (self.service.proc.returncode, self.service.logTail(10)))
                    return False
                if hasattr(self, "rssPeak"):
                    rss = rssBytes(self.service.pid)
                    if rss:
                        self.rssPeak = max(self.rssPeak, rss)
                        self.rssSamples.append((now, rss))
                    fds = fdCount(self.service.pid)
                    if fds:
                        self.fdMax = max(self.fdMax, fds)
            if hasattr(self, "lastReport") and now - self.lastReport >= self.args.report_every:
                self.report(now)

    def report(self, now: float, final: bool = False) -> None:
        assert self.service is not None
        pid = self.service.pid
        toPeer, toHost = self.moved()
        if final:
            # Rates over the whole run (the last interval may be a moment).
            self.lastMoved = (0, 0)
            self.lastReport = self.t0
            self.lastCpu = (self.t0, self.cpuStart)
        span = max(now - self.lastReport, 1e-9)
        rss = rssBytes(pid)
        fds = fdCount(pid)
        cpu = cpuSeconds(pid)
        cpuText = ""
        if cpu is not None:
            cpuText = " cpu %3.0f%%" % (100 * (cpu - self.lastCpu[1]) / max(now - self.lastCpu[0],
                                                                           1e-9),)
            self.lastCpu = (now, cpu)
        for problem in self.service.newProblems():
            self.error("service log: " + problem[:600])
        live = sum(1 for b in self.bridges if b.state == DATA)
        print(
            "[%6.1fs]%s h->p %8.2f MB (%5.2f MB/s)  p->h %8.2f MB (%5.2f MB/s)  "
            "sessions opened %d closed %d (live %d)  errors %d  RSS %6.1f MB  fds %s%s"
            % (
                now - self.t0, " end (whole-run rates)" if final else "",
                toPeer / MB, (toPeer - self.lastMoved[0]) / MB / span,
                toHost / MB, (toHost - self.lastMoved[1]) / MB / span,
                self.opened, self.closed, live, self.errors,
                (rss or 0) / MB, fds, cpuText,
            ),
            flush=True,
        )
        self.lastMoved = (toPeer, toHost)
        self.lastReport = now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bridges", type=int, default=32, help="bridges (default 32)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="seconds of traffic (default 60)")
    parser.add_argument("--rate", type=float, default=64.0,
                        help="KB/s each way per session (default 64)")
    parser.add_argument("--report-every", type=float, default=5.0,
                        help="seconds between report lines (default 5)")
    parser.add_argument("--cycle", type=float, default=4.0,
                        help="mean seconds a session lasts before it is closed and reopened "
                        "(uniform in 0.5x..1.5x; default 4)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data pattern")
    args = parser.parse_args()
    if args.bridges < 1 or args.seconds <= 0 or args.rate <= 0 or args.report_every <= 0:
        parser.error("--bridges, --seconds, --rate and --report-every must be positive")
    try:
        importlib.import_module("tcpbridge.dle")
    except ImportError as e:
        print("soak: %s cannot import tcpbridge (%s); run this script with the Python of the "
              "environment tcpbridge is installed in" % (sys.executable, e), file=sys.stderr)
        return 2

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    # Ctrl-C must stop the run and its service even when started with SIGINT
    # ignored (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)
    soak = Soak(args)
    try:
        return soak.run()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        soak.cleanup()
        if soak.workdir:
            shutil.rmtree(soak.workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
