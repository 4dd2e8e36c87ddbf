#!/usr/bin/env python3
"""
Benchmark tcpbridge against socat on the same serial-line-to-TCP topology.

The benchmark process makes a pty pair and plays the host on the master;
the service under test (tcpbridge, or socat for comparison) opens the slave
as a real device (``/dev/pts/N``) and listens on a loopback TCP port, which a
peer socket in this process connects to.  Each measurement gets a fresh pty
and a fresh service process, so no state leaks from one to the next.

Run it with a Python that can import tcpbridge and Twisted (the venv the
service is installed in)::

    python benchmarks/bench.py [--size MB] [--quick]

Figures, each for tcpbridge and socat side by side:

1. throughput host->peer and peer->host, DLEMODE 0 and 1, random and
   escape-dense data (MB/s of the serial line's stream, which both programs
   carry alike: in DLEMODE 1 the DLE-coded one);
2. one-byte round-trip latency, peer -> host -> peer (median and p99);
3. peak RSS growth of the service while one side does not read for a while;
4. CPU seconds of the service per MB of that stream, over each throughput
   run.

Only the standard library is used, and all traffic is on 127.0.0.1.
"""

import argparse
import math
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tty
import zlib
from typing import Callable, Dict, List, Optional, Tuple

MB = 1 << 20

DLE = 0x10
ETX = 0x03

WAITING_FOR_DATA = b"\r\nOk_Info_WaitingForData\r\n"
LOOPBACK = "127.0.0.1"

#: Seconds any single wait may last before the item is reported as failed.
STEP_TIMEOUT = 20.0
#: Seconds without a byte received before a transfer counts as stalled.
STALL_TIMEOUT = 30.0
#: Seconds between RSS samples.
RSS_PERIOD = 0.05


class BenchError(Exception):
    """
    A measurement could not be made; the message says why.
    """


# -- data ------------------------------------------------------------------


def dleEncode(data: bytes) -> bytes:
    """
    DLE-code bytes as the host sends them in DLEMODE 1 (and as tcpbridge
    sends peer data to the host): every DLE and ETX gets a DLE in front.
    Written here independently of C{tcpbridge.dle} so that it checks it.
    """
    return data.replace(b"\x10", b"\x10\x10").replace(b"\x03", b"\x10\x03")


def randomData(size: int) -> bytes:
    """
    C{size} random bytes.
    """
    return os.urandom(size)


#: Maps a random byte to 0x10 (40%), 0x03 (40%) or a plain byte (20%).
_DENSE = bytes([DLE] * 103 + [ETX] * 102 + list(range(205, 256)))


def denseData(size: int) -> bytes:
    """
    C{size} bytes that are mostly DLE and ETX: the worst case of the coding.
    """
    return os.urandom(size).translate(_DENSE)


def cyclicCrc(block: bytes, total: int) -> int:
    """
    The CRC-32 of C{block} repeated until C{total} bytes.
    """
    crc = 0
    done = 0
    while done < total:
        n = min(len(block), total - done)
        crc = zlib.crc32(block[:n] if n < len(block) else block, crc)
        done += n
    return crc


# -- the service's process -----------------------------------------------


def freePort() -> int:
    """
    A loopback TCP port free right now (bind port 0, read it, close).
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def schedstat(pid: "int | str") -> Tuple[float, int]:
    """
    CPU time of process C{pid} (or C{"self"}) so far, all its threads
    together, from the scheduler's own nanosecond count
    (C{/proc/PID/task/*/schedstat}), not from the 10 ms ticks of utime and
    stime; and how many times its threads were put on a CPU (wake-ups).

    @return: C{(seconds, runs)}.
    """
    total = runs = 0
    base = "/proc/%s/task" % (pid,)
    for task in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, task)) as f:
                fields = f.read().split()
            total += int(fields[0])
            runs += int(fields[2])
        except (OSError, IndexError, ValueError):
            # A thread that ended between the listing and the read.
            pass
    return total / 1e9, runs


def cpuSeconds(pid: "int | str") -> float:
    """
    CPU seconds of process C{pid} (or C{"self"}) so far; see L{schedstat}.
    """
    return schedstat(pid)[0]


#: CPUs the service and this benchmark run on (None: not pinned); set by
#: L{pinCpus}.
SERVICE_CPU: Optional[int] = None
HARNESS_CPU: Optional[int] = None


def pinCpus(enabled: bool) -> str:
    """
    Put this benchmark and the services it starts on separate CPUs where
    there are two or more, so neither steals the other's time slices.

    @return: what was done, for the report.
    """
    global SERVICE_CPU, HARNESS_CPU
    cpus = sorted(os.sched_getaffinity(0))
    if not enabled or len(cpus) < 2:
        return "not pinned (%s)" % ("--no-pin" if not enabled else "one CPU")
    HARNESS_CPU, SERVICE_CPU = cpus[0], cpus[1]
    os.sched_setaffinity(0, {HARNESS_CPU})
    return "service on CPU %d, benchmark on CPU %d" % (SERVICE_CPU, HARNESS_CPU)


def rssBytes(pid: int) -> int:
    """
    The resident set size of process C{pid}, in bytes.
    """
    with open("/proc/%d/status" % (pid,)) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmRSS for pid %d" % (pid,))


def serviceEnv(root: Optional[str] = None) -> Dict[str, str]:
    """
    The environment to start tcpbridge in: C{root} (by default the directory
    of the tcpbridge this benchmark imports) goes first on C{PYTHONPATH}, so
    that twistd finds the plugin beside it (an editable install does not
    show it to twistd).
    """
    if root is None:
        import tcpbridge

        root = os.path.dirname(os.path.dirname(os.path.abspath(tcpbridge.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


#: Every service process started and not yet reaped, for the last cleanup.
_LIVE: List[subprocess.Popen] = []


def stopProcess(proc: subprocess.Popen) -> None:
    """
    Stop one service process we started: SIGTERM, then SIGKILL, never an
    unbounded wait.
    """
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    if proc in _LIVE and proc.poll() is not None:
        _LIVE.remove(proc)


def stopAll() -> None:
    """
    Stop whatever service processes are still alive.
    """
    for proc in list(_LIVE):
        stopProcess(proc)


def waitFor(
    fd: int, events: int, deadline: float, alive: Optional[Callable[[], None]] = None
) -> None:
    """
    Wait until C{fd} is ready for C{events}, or raise L{BenchError} at the
    deadline (or as soon as C{alive} raises).
    """
    poller = select.poll()
    poller.register(fd, events)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError("timed out waiting for I/O")
        if poller.poll(min(left, 0.2) * 1000):
            return
        if alive is not None:
            alive()


class Session:
    """
    One service process on one fresh pty, with the TCP session open: the
    host is C{master}, the peer is C{sock}.  A context manager, so the
    process, the pty and the socket go away whatever happens.
    """

    def __init__(self, kind: str, workdir: str, dlemode: int = 1, txdelay: int = 100) -> None:
        self.kind = kind
        self.workdir = workdir
        self.dlemode = dlemode
        self.txdelay = txdelay
        self.master = -1
        self.slave = -1
        self.sock: Optional[socket.socket] = None
        self.proc: Optional[subprocess.Popen] = None
        self.logPath = ""
        self.leftover = b""
        self._hostBuffer = bytearray()

    # -- life cycle --

    def __enter__(self) -> "Session":
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _open(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        # The benchmark keeps its slave descriptor open (and never reads it)
        # so the master never sees a hangup between service processes.
        device = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        port = freePort()
        self.logPath = os.path.join(
            self.workdir, "%s-%d.log" % (self.kind, int(time.monotonic() * 1000))
        )
        log = open(self.logPath, "wb")
        try:
            if self.kind == "tcpbridge":
                ini = os.path.join(self.workdir, "bench-%d.ini" % (port,))
                with open(ini, "w") as f:
                    f.write(
                        "[bridge:bench]\n"
                        "device = %s\n"
                        "baudrate = 115200\n"
                        "interface = %s\n"
                        "tcpport = %d\n"
                        "dlemode = %d\n"
                        "tcptxdelay = %d\n" % (device, LOOPBACK, port, self.dlemode, self.txdelay)
                    )
                argv = [
                    sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                    "-n", "--pidfile=", "tcpbridge", "--config", ini,
                ]
            else:
                argv = [
                    "socat",
                    "FILE:%s,raw,echo=0" % (device,),
                    "TCP-LISTEN:%d,bind=%s,reuseaddr" % (port, LOOPBACK),
                ]
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True, env=serviceEnv(),
            )
        finally:
            log.close()
        _LIVE.append(self.proc)
        if SERVICE_CPU is not None:
            os.sched_setaffinity(self.proc.pid, {SERVICE_CPU})
        if self.kind == "tcpbridge":
            self._waitDeviceOpen(device)
            self._command(b"AT", first=True)
            self._command(b"AT#TCPPORT=%d" % (port,))
            self._command(b"AT#DLEMODE=%d" % (self.dlemode,))
            self._command(b"AT#TCPTXDELAY=%d" % (self.txdelay,))
            self._command(b"AT#LTCPSTART")
        self.sock = self._connect(port)
        if self.kind == "tcpbridge":
            self.leftover = self._hostUntil(WAITING_FOR_DATA)
        self.sock.setblocking(False)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            stopProcess(self.proc)
        for name in ("master", "slave"):
            fd = getattr(self, name)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)

    # -- helpers --

    def alive(self) -> None:
        """
        Raise L{BenchError} if the service process has exited.
        """
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(
                "%s exited with status %s: %s" % (self.kind, self.proc.returncode, self.logTail())
            )

    def logTail(self, lines: int = 3) -> str:
        try:
            with open(self.logPath, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def _waitDeviceOpen(self, device: str) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        fdDir = "/proc/%d/fd" % (self.pid,)
        while True:
            self.alive()
            try:
                for name in os.listdir(fdDir):
                    try:
                        if os.readlink(os.path.join(fdDir, name)) == device:
                            return
                    except OSError:
                        pass
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("%s did not open %s" % (self.kind, device))
            time.sleep(0.02)

    def _hostRead(self, deadline: float) -> None:
        waitFor(self.master, select.POLLIN, deadline, self.alive)
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        self._hostBuffer += data

    def _hostUntil(self, pattern: bytes, timeout: float = STEP_TIMEOUT) -> bytes:
        """
        Read the host side until C{pattern}; return what followed it.
        """
        deadline = time.monotonic() + timeout
        while True:
            i = self._hostBuffer.find(pattern)
            if i >= 0:
                rest = bytes(self._hostBuffer[i + len(pattern):])
                self._hostBuffer.clear()
                return rest
            try:
                self._hostRead(deadline)
            except BenchError as e:
                raise BenchError(
                    "waiting for %r on the host: %s (got %r)"
                    % (pattern, e, bytes(self._hostBuffer[-80:]))
                )

    def _command(self, line: bytes, first: bool = False) -> None:
        """
        Send one AT command line as the host and wait for its OK.  The first
        one is repeated until answered: the service may still be setting the
        line up (pyserial flushes its input when it opens the port).
        """
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            self.alive()
            os.write(self.master, line + b"\r")
            wait = deadline if not first else min(deadline, time.monotonic() + 0.5)
            while time.monotonic() < wait:
                if b"ERROR" in self._hostBuffer:
                    raise BenchError("%s answered %r" % (line.decode(), bytes(self._hostBuffer)))
                if b"\r\nOK\r\n" in self._hostBuffer:
                    self._hostBuffer.clear()
                    if first:
                        # Drop the answers to any repeated first line.
                        time.sleep(0.1)
                        self._drainHost()
                    return
                try:
                    self._hostRead(wait)
                except BenchError:
                    self.alive()
                    break
            if not first or time.monotonic() >= deadline:
                raise BenchError(
                    "no OK to %s (got %r)" % (line.decode(), bytes(self._hostBuffer[-80:]))
                )

    def _drainHost(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except BlockingIOError:
                break
            if not data:
                break
        self._hostBuffer.clear()

    def _connect(self, port: int) -> socket.socket:
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            self.alive()
            try:
                s = socket.create_connection((LOOPBACK, port), timeout=STEP_TIMEOUT)
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise BenchError("%s never listened on port %d" % (self.kind, port))
                time.sleep(0.02)
                continue
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s


# -- measurements -----------------------------------------------------------


def transfer(
    session: Session,
    toPeer: bool,
    sendBlock: bytes,
    sendTotal: int,
    expectBlock: bytes,
    expectTotal: int,
    hold: float = 0.0,
    sampleRss: bool = False,
    rssLimit: Optional[int] = None,
) -> Dict[str, float]:
    """
    Send C{sendBlock} repeated to C{sendTotal} bytes from one side (the host
    if C{toPeer}, else the peer) and read at the other side until
    C{expectTotal} bytes arrived, checking their count and CRC-32 against
    C{expectBlock} repeated.  The receiver does not read for C{hold}
    seconds.  Non-blocking, one thread, every wait bounded.

    @return: elapsed seconds, CPU seconds of the service, and RSS figures.
    """
    assert session.sock is not None
    sock = session.sock
    wfd, rfd = (session.master, sock.fileno()) if toPeer else (sock.fileno(), session.master)
    expectCrc = cyclicCrc(expectBlock, expectTotal)
    view = memoryview(sendBlock)
    blockLen = len(sendBlock)
    chunk = 65536
    pid = session.pid

    received = len(session.leftover)
    crc = zlib.crc32(session.leftover)
    if received:
        raise BenchError("%d unexpected bytes before the data" % (received,))
    written = 0
    poller = select.poll()
    poller.register(wfd, select.POLLOUT)
    reading = False

    rssBase = rssBytes(pid)
    rssPeak = rssBase
    nextSample = 0.0
    cpu0 = cpuSeconds(pid)
    own0 = cpuSeconds("self")
    start = time.monotonic()
    holdUntil = start + hold
    lastProgress = start
    end = 0.0
    while True:
        now = time.monotonic()
        if sampleRss and now >= nextSample:
            rss = rssBytes(pid)
            rssPeak = max(rssPeak, rss)
            nextSample = now + RSS_PERIOD
            if rssLimit is not None and rss - rssBase > rssLimit:
                raise BenchError(
                    "RSS grew by %.0f MB, over the safety limit of %.0f MB: aborted"
                    % ((rss - rssBase) / MB, rssLimit / MB)
                )
        if not reading and now >= holdUntil:
            poller.register(rfd, select.POLLIN)
            reading = True
            lastProgress = now
        if reading and now - lastProgress > STALL_TIMEOUT:
            raise BenchError(
                "stalled: %d of %d bytes received, %d of %d sent"
                % (received, expectTotal, written, sendTotal)
            )
        session.alive()
        for fd, ev in poller.poll(RSS_PERIOD * 1000 if sampleRss else 200):
            if fd == wfd and written < sendTotal:
                pos = written % blockLen
                n = min(chunk, blockLen - pos, sendTotal - written)
                try:
                    written += os.write(wfd, view[pos:pos + n])
                except BlockingIOError:
                    pass
                except OSError as e:
                    raise BenchError("write failed after %d bytes: %s" % (written, e))
                if written >= sendTotal:
                    poller.unregister(wfd)
            elif fd == rfd:
                try:
                    data = os.read(rfd, 262144)
                except BlockingIOError:
                    continue
                except OSError as e:
                    raise BenchError("read failed after %d bytes: %s" % (received, e))
                if not data:
                    raise BenchError(
                        "end of stream after %d of %d bytes" % (received, expectTotal)
                    )
                received += len(data)
                crc = zlib.crc32(data, crc)
                lastProgress = time.monotonic()
                if received > expectTotal:
                    raise BenchError("%d bytes received, %d expected" % (received, expectTotal))
        if received == expectTotal and reading:
            end = time.monotonic()
            cpu1 = cpuSeconds(pid)
            own1 = cpuSeconds("self")
            break
    if sampleRss:
        rssPeak = max(rssPeak, rssBytes(pid))
    # Anything more arriving now is a duplicate or an invention.
    linger = time.monotonic() + 0.2
    while time.monotonic() < linger:
        if poller.poll(50):
            try:
                data = os.read(rfd, 65536)
            except BlockingIOError:
                continue
            if data:
                raise BenchError("%d extra bytes after the expected %d" % (len(data), expectTotal))
            break
    if crc != expectCrc:
        raise BenchError(
            "content differs: %d bytes arrived as expected but their CRC-32 does not match"
            % (received,)
        )
    return {
        "elapsed": end - start,
        "cpu": cpu1 - cpu0,
        "harnessCpu": own1 - own0,
        "rssGrowth": rssPeak - rssBase,
        "rssBase": rssBase,
    }


def roundTrips(session: Session, count: int) -> List[float]:
    """
    C{count} one-byte round trips: the peer sends a byte, the host echoes it
    back, the peer times it.  Returns microseconds, warm-up excluded.
    """
    assert session.sock is not None
    sock = session.sock
    master = session.master
    hostPoll = select.poll()
    hostPoll.register(master, select.POLLIN)
    peerPoll = select.poll()
    peerPoll.register(sock.fileno(), select.POLLIN)
    byte = b"a"
    times = []
    warmup = min(100, count // 10)
    for i in range(count + warmup):
        t0 = time.perf_counter_ns()
        sock.send(byte)
        got = b""
        deadline = time.monotonic() + 5
        while not got:
            if not hostPoll.poll(1000):
                if time.monotonic() > deadline:
                    raise BenchError("round trip %d: the host got nothing" % (i,))
                session.alive()
                continue
            try:
                got = os.read(master, 16)
            except BlockingIOError:
                continue
        if got != byte:
            raise BenchError("round trip %d: the host got %r" % (i, got))
        os.write(master, got)
        back = b""
        while not back:
            if not peerPoll.poll(1000):
                if time.monotonic() > deadline:
                    raise BenchError("round trip %d: the peer got nothing back" % (i,))
                session.alive()
                continue
            try:
                back = sock.recv(16)
            except BlockingIOError:
                continue
            if not back:
                raise BenchError("round trip %d: the connection closed" % (i,))
        t1 = time.perf_counter_ns()
        if back != byte:
            raise BenchError("round trip %d: the peer got %r back" % (i, back))
        if i >= warmup:
            times.append((t1 - t0) / 1000.0)
    return times


def percentile(values: List[float], p: float) -> float:
    """
    The nearest-rank C{p}th percentile of C{values}.
    """
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(p / 100.0 * len(ordered)) - 1))
    return ordered[k]


# -- the report -------------------------------------------------------------


class Report:
    """
    Rows of figures for both services, and notes.
    """

    def __init__(self, services: List[str]) -> None:
        self.services = services
        self.rows: List[Tuple[str, str, Dict[str, Optional[float]], str]] = []
        self.notes: List[str] = []

    def add(self, figure: str, unit: str, values: Dict[str, Optional[float]], better: str) -> None:
        """
        One row; C{better} is C{"higher"} or C{"lower"}.
        """
        self.rows.append((figure, unit, values, better))

    def note(self, text: str, echo: bool = True) -> None:
        """
        A note printed under the table (and at once, if C{echo}).
        """
        self.notes.append(text)
        if echo:
            print("  note: " + text, flush=True)

    def render(self) -> str:
        def fmt(v: Optional[float], unit: str) -> str:
            if v is None:
                return "FAIL" if unit != "-" else "-"
            if unit == "s/MB":
                return "%.5f" % (v,)
            if abs(v) >= 100:
                return "%.0f" % (v,)
            if abs(v) >= 10:
                return "%.1f" % (v,)
            return "%.2f" % (v,)

        header = [
            "figure",
            "unit",
            "tcpbridge",
            "socat",
            "ratio (>1: tcpbridge worse)",
        ]
        body = []
        for figure, unit, values, better in self.rows:
            t = values.get("tcpbridge")
            s = values.get("socat")
            if "socat" not in self.services:
                sText = "skipped"
            else:
                sText = fmt(s, unit)
            ratio = "n/a"
            if t is not None and s is not None:
                if better == "higher" and t > 0:
                    ratio = "%.2f  (s/t)" % (s / t,)
                elif better == "lower" and unit == "MB" and (s < 0.5 or t < 0.5):
                    ratio = "n/a (growth < 0.5 MB)"
                elif better == "lower" and s > 0:
                    ratio = "%.2f  (t/s)" % (t / s,)
            body.append([figure, unit, fmt(t, unit), sText, ratio])
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        lines = []
        sep = "-+-".join("-" * w for w in widths)

        def line(cells: List[str]) -> str:
            out = []
            for i, c in enumerate(cells):
                out.append(c.ljust(widths[i]) if i in (0, 1, 4) else c.rjust(widths[i]))
            return " | ".join(out).rstrip()

        lines.append(line(header))
        lines.append(sep)
        for r in body:
            lines.append(line(r))
        return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    quick = args.quick
    tputSize = int((args.throughput_size or (8 if quick else 32)) * MB)
    memSize = int((args.size if args.size is not None else (32 if quick else 1024)) * MB)
    hold = args.hold if args.hold is not None else (1.0 if quick else 5.0)
    trips = args.round_trips or (300 if quick else 2000)
    repeats = args.repeats or (1 if quick else 3)

    services = ["tcpbridge"]
    report = Report(services)
    if shutil.which("socat"):
        services.append("socat")
    else:
        report.note("socat not found on PATH: its column is skipped (apt-get install socat)")
    try:
        import tcpbridge  # noqa: F401
        import twisted  # noqa: F401
    except ImportError as e:
        print(
            "bench: %s cannot import tcpbridge/twisted (%s); run this script with the "
            "Python of the environment tcpbridge is installed in" % (sys.executable, e),
            file=sys.stderr,
        )
        return 2

    pinning = pinCpus(not args.no_pin)
    print(
        "tcpbridge benchmark: throughput %.0f MB per run (median of %d), memory test %.0f MB "
        "with a %.1f s hold, %d round trips (MB = 2^20 bytes)"
        % (tputSize / MB, repeats, memSize / MB, hold, trips),
        flush=True,
    )
    workdir = tempfile.mkdtemp(prefix="tcpbridge-bench-")
    logProblems: List[str] = []

    def checkLog(session: Session) -> None:
        # A traceback in the service's log is a problem even if the data
        # came through.
        try:
            with open(session.logPath, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return
        for marker in ("Traceback", "Unhandled"):
            if marker in text:
                i = text.index(marker)
                logProblems.append(
                    "%s log %s: %s" % (session.kind, os.path.basename(session.logPath),
                                       " ".join(text[i:i + 300].split()))
                )
                break

    try:
        # 1 and 4: throughput and CPU per MB.
        datasets = {"random": randomData(tputSize), "dense": denseData(tputSize)}
        encoded = {k: dleEncode(v) for k, v in datasets.items()}
        for k in datasets:
            report.note(
                "%s data: %d payload bytes, %d once DLE-coded (x%.2f)"
                % (k, len(datasets[k]), len(encoded[k]), len(encoded[k]) / len(datasets[k])),
                echo=False
            )
        cpuRows = []
        configs = [
            (toPeer, dlemode, kind, 0)
            for toPeer in (True, False)
            for dlemode in (0, 1)
            for kind in ("random", "dense")
        ]
        # tcpbridge as it ships: host bytes gathered for TCPTXDELAY 100 ms.
        configs.append((True, 1, "random", 100))
        for toPeer, dlemode, kind, txdelay in configs:
            payload = datasets[kind]
            coded = encoded[kind] if dlemode else payload
            direction = "host->peer" if toPeer else "peer->host"
            name = "%s DLE%d %s" % (direction, dlemode, kind)
            if txdelay:
                name += " TXDELAY%d" % (txdelay,)
            rates: Dict[str, Optional[float]] = {}
            cpus: Dict[str, Optional[float]] = {}
            # Both programs carry the same stream on the serial line (the
            # DLE-coded one in DLEMODE 1) and are charged per MB of it.
            # socat does no coding, so at the TCP side it carries that same
            # stream, where tcpbridge carries the payload.
            moved = len(coded)
            runs: Dict[str, List[Dict[str, float]]] = {svc: [] for svc in services}
            failed: Dict[str, str] = {}
            # Repeats interleaved (tcpbridge, socat, tcpbridge, socat...), so
            # a slow spell of the machine falls on both alike.
            for attempt in range(repeats):
                for svc in services:
                    if svc in failed:
                        continue
                    if toPeer:
                        send, expect = coded, (payload if svc == "tcpbridge" else coded)
                    else:
                        send, expect = (payload if svc == "tcpbridge" else coded), coded
                    print("  %-36s %-9s" % (name, svc), end="", flush=True)
                    try:
                        with Session(svc, workdir, dlemode, txdelay) as session:
                            r = transfer(
                                session, toPeer, send, len(send), expect, len(expect)
                            )
                            checkLog(session)
                    except BenchError as e:
                        print(" failed", flush=True)
                        failed[svc] = str(e)
                        report.note("throughput %s, %s: FAILED: %s" % (name, svc, e))
                        continue
                    runs[svc].append(r)
                    print(" %.1f MB/s (CPU %.0f%%, harness %.0f%%)" % (
                        moved / MB / r["elapsed"], 100 * r["cpu"] / r["elapsed"],
                        100 * r["harnessCpu"] / r["elapsed"]), flush=True)
            for svc in services:
                if svc in failed:
                    rates[svc] = cpus[svc] = None
                    continue
                # The median of the repeats, for speed and CPU alike.
                elapsed = statistics.median(r["elapsed"] for r in runs[svc])
                cpu = statistics.median(r["cpu"] for r in runs[svc])
                rates[svc] = moved / MB / elapsed
                cpus[svc] = cpu / (moved / MB)
                if svc == "tcpbridge" and cpu > 0.9 * elapsed:
                    report.note(
                        "throughput %s: tcpbridge is CPU-bound (%.0f%% of a core)"
                        % (name, 100 * cpu / elapsed)
                    )
            report.add("throughput " + name, "MB/s", rates, "higher")
            cpuRows.append(("CPU per MB " + name, cpus))

        # 2: latency.
        for dlemode in (0, 1):
            results: Dict[str, Optional[List[float]]] = {svc: [] for svc in services}
            for attempt in range(repeats):
                for svc in services:
                    if results[svc] is None:
                        continue
                    print("  %-36s %-9s ..." % ("round trip DLE%d" % (dlemode,), svc), end="",
                          flush=True)
                    try:
                        with Session(svc, workdir, dlemode, txdelay=0) as session:
                            times = roundTrips(session, trips)
                            checkLog(session)
                        results[svc] += times  # type: ignore[operator]
                        print(" median %.1f us" % (statistics.median(times),), flush=True)
                    except BenchError as e:
                        print(" failed", flush=True)
                        results[svc] = None
                        report.note("round trip DLE%d, %s: FAILED: %s" % (dlemode, svc, e))
            for label, f in (("median", statistics.median), ("p99", lambda v: percentile(v, 99))):
                report.add(
                    "1-byte round trip DLE%d %s" % (dlemode, label),
                    "us",
                    {s: (f(v) if v else None) for s, v in results.items()},
                    "lower",
                )

        # 3: memory while one side does not read.
        memDle = 1
        block = randomData(MB)
        codedBlock = dleEncode(block)
        for toPeer in (False, True):
            direction = "host->peer, peer" if toPeer else "peer->host, host"
            name = "RSS growth %s holds %.0fs" % (direction, hold)
            growth: Dict[str, Optional[float]] = {}
            for svc in services:
                if toPeer:
                    send = codedBlock
                    expect = block if svc == "tcpbridge" else codedBlock
                else:
                    send = block if svc == "tcpbridge" else codedBlock
                    expect = codedBlock
                reps = memSize // MB
                print("  %-36s %-9s ..." % ("memory " + ("host->peer" if toPeer else "peer->host"),
                                            svc), end="", flush=True)
                try:
                    with Session(svc, workdir, memDle) as session:
                        r = transfer(
                            session, toPeer, send, len(send) * reps, expect, len(expect) * reps,
                            hold=hold, sampleRss=True,
                            rssLimit=max(512 * MB, 2 * memSize),
                        )
                        checkLog(session)
                    growth[svc] = r["rssGrowth"] / MB
                    print(" +%.1f MB over %.1f MB, %.1f s" % (
                        growth[svc], r["rssBase"] / MB, r["elapsed"]), flush=True)
                except BenchError as e:
                    print(" failed", flush=True)
                    growth[svc] = None
                    report.note("%s, %s: FAILED: %s" % (name, svc, e))
            report.add(name, "MB", growth, "lower")

        for name, cpus in cpuRows:
            report.add(name, "s/MB", cpus, "lower")
    finally:
        stopAll()
        shutil.rmtree(workdir, ignore_errors=True)

    for problem in logProblems:
        report.note(problem)
    report.note(
        "throughput and CPU per MB count the same bytes for both programs: the serial "
        "line's (in DLEMODE 1 the DLE-coded stream, both ways), which both carry alike; "
        "socat does no DLE coding, so at the TCP side it carries that coded stream too, "
        "where tcpbridge decodes (host->peer) and encodes (peer->host) the payload",
        echo=False
    )
    report.note(
        "throughput runs use AT#TCPTXDELAY=0 except the TXDELAY100 row (tcpbridge's default; "
        "socat has no such setting): there the last partial segment waits up to 100 ms",
        echo=False,
    )
    report.note(
        "CPU % in the progress lines: the service's CPU time over the run's elapsed time, "
        "and the same for this benchmark process (the harness); when neither is near 100%, "
        "the pty itself (kernel work outside both processes) is what limits the rate",
        echo=False
    )
    report.note(
        "CPU per MB: CPU time of the service process (all threads, from the scheduler's "
        "nanosecond count in /proc/PID/task/*/schedstat) over the throughput run, per MB of "
        "the serial line's stream; medians of %d repeats run interleaved; %s" % (repeats, pinning),
        echo=False
    )
    report.note(
        "RSS growth: peak VmRSS (sampled every %.0f ms) minus VmRSS once the session was open; "
        "DLEMODE %d, random data, %.0f MB" % (RSS_PERIOD * 1000, memDle, memSize / MB),
        echo=False
    )
    print()
    print("ratio: socat/tcpbridge (s/t) where higher is better (MB/s), tcpbridge/socat (t/s) "
          "where lower is better (us, MB, s/MB); above 1 means tcpbridge is worse")
    print(report.render())
    print()
    for n in report.notes:
        print("note: " + n)
    print("total time: %.1f s" % (time.monotonic() - started,))
    return 0


def handleSignals() -> None:
    """
    Make Ctrl-C, SIGTERM and SIGHUP stop the run (and, through the caller's
    cleanup, its services), even when started with SIGINT ignored (a
    background job of a non-interactive shell).
    """

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=None,
                        help="MB pushed in the memory test (default 1024, --quick 32)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, to try the benchmark in well under a minute")
    parser.add_argument("--throughput-size", type=float, default=None,
                        help="MB per throughput run (default 32, --quick 8)")
    parser.add_argument("--hold", type=float, default=None,
                        help="seconds the receiver does not read in the memory test "
                        "(default 5, --quick 1)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per throughput figure, the median is shown "
                        "(default 3, --quick 1)")
    parser.add_argument("--round-trips", type=int, default=None,
                        help="round trips for the latency figure (default 2000, --quick 300)")
    parser.add_argument("--no-pin", action="store_true",
                        help="leave the service and the benchmark to the scheduler instead of "
                        "on separate CPUs")
    args = parser.parse_args()
    handleSignals()
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        stopAll()


if __name__ == "__main__":
    sys.exit(main())
