#!/usr/bin/env python3
"""
What one bridge costs at a serial line's rate: tcpbridge against socat and
ser2net, side by side in one run.

N sessions are opened on N ptys: the benchmark holds each pty's master and
plays the host there; the program under test opens the slave as its serial
device (``/dev/pts/N``) and listens on a loopback port, to which the
benchmark connects as the peer.  Then every session moves data both ways
at a set rate in UART-sized chunks (each host and each peer writes one
chunk every chunk/rate seconds, the sessions spread evenly over that
interval), and the benchmark measures the CPU time of the program's
processes (all of them: socat runs one per port) and how often the
scheduler woke them, over a set time.

- tcpbridge: one process, N bridges (DLEMODE 1, TCPTXDELAY 0 unless
  ``--txdelay``), sessions opened with ``AT#LTCPSTART``;
- socat: one process per port, ``FILE:/dev/pts/N,raw,echo=0`` to
  ``TCP-LISTEN``;
- ser2net: one process, N ``serialdev`` connections on ``tcp`` accepters;
- baseline (with ``--baseline DIR``): tcpbridge from another checkout, run
  as tcpbridge is, to compare versions in the same run.

Run it with the Python of the environment tcpbridge is installed in::

    python benchmarks/linerate.py [--sessions 32,128,256] [--rates 1.2,12]
        [--chunk 32] [--seconds 10] [--repeats 2] [--programs ...]

The data is random bytes with no DLE and no ETX, so that every program
moves exactly the same bytes (tcpbridge's coding changes none of them);
every byte sent is counted at the other end, and a run where any is
missing is reported as failed.  Only the standard library is used, and all
traffic is on 127.0.0.1.
"""

import argparse
import os
import random
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from typing import Dict, List, Optional, Tuple

import bench
from bench import LOOPBACK, WAITING_FOR_DATA, BenchError, schedstat, serviceEnv

PROGRAMS = ("tcpbridge", "socat", "ser2net")

#: Random bytes with every DLE and ETX changed into another byte.
_PLAIN = bytes(b if b not in (0x10, 0x03) else b + 0x40 for b in range(256))

#: Seconds the sessions run before the measurement starts, and the ends of
#: the streams may take to arrive once it is over.
WARMUP = 2.0
DRAIN = 5.0

#: Bytes one stream may have waiting to be written before its chunks are
#: no longer generated (the rate measured then falls short and says so).
MAX_BACKLOG = 4096


class Line:
    """
    One session: a pty (the host's end is C{master}) and the peer socket.
    """

    def __init__(self, port: int) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.device = os.ttyname(self.slave)
        self.port = port
        self.sock: Optional[socket.socket] = None
        self.buffer = bytearray()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def hostUntil(self, pattern: bytes, deadline: float) -> bool:
        """
        Read the host's end until C{pattern} has come (C{True}) or the
        deadline passed (C{False}).
        """
        while pattern not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if select.select([self.master], [], [], min(left, 0.2))[0]:
                try:
                    self.buffer += os.read(self.master, 4096)
                except BlockingIOError:
                    pass
        del self.buffer[: self.buffer.index(pattern) + len(pattern)]
        return True

    def command(self, line: bytes, repeat: bool = False) -> None:
        deadline = time.monotonic() + bench.STEP_TIMEOUT
        while True:
            os.write(self.master, line + b"\r")
            wait = min(deadline, time.monotonic() + 0.5) if repeat else deadline
            if self.hostUntil(b"\r\nOK\r\n", wait):
                if repeat:
                    # Drop the answers to any repeated line.
                    time.sleep(0.05)
                    try:
                        os.read(self.master, 65536)
                    except BlockingIOError:
                        pass
                    self.buffer.clear()
                return
            if not repeat or time.monotonic() > deadline:
                raise BenchError("%s: no OK to %r (got %r)" % (self.device, line, bytes(self.buffer)))

    def connect(self, deadline: float) -> None:
        while True:
            try:
                self.sock = socket.create_connection((LOOPBACK, self.port), timeout=5)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise BenchError("nothing listens on port %d" % (self.port,))
                time.sleep(0.02)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def listenPorts(n: int) -> List[int]:
    """
    C{n} loopback ports free now, below the kernel's range of ephemeral
    ports: the benchmark's own peer sockets (and anything else on the
    machine) take theirs from that range, and one of them could otherwise
    take a port before the program under test listens on it.
    """
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    ports: List[int] = []
    candidate = random.randrange(1024, max(1025, low - 4 * n))
    while len(ports) < n:
        if candidate >= low:
            raise BenchError("no %d free ports below %d" % (n, low))
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind((LOOPBACK, candidate))
            ports.append(candidate)
        except OSError:
            pass
        finally:
            probe.close()
        candidate += 1
    return ports


def waitDevicesOpen(pids: List[int], devices: List[str]) -> None:
    """
    Wait until the programs hold every device open.
    """
    deadline = time.monotonic() + 30
    wanted = set(devices)
    while True:
        held = set()
        for pid in pids:
            fdDir = "/proc/%d/fd" % (pid,)
            try:
                for name in os.listdir(fdDir):
                    try:
                        held.add(os.readlink(os.path.join(fdDir, name)))
                    except OSError:
                        pass
            except OSError:
                pass
        if wanted <= held:
            return
        if time.monotonic() > deadline:
            raise BenchError("devices not opened: %s" % (sorted(wanted - held)[:3],))
        time.sleep(0.05)


def start(
    program: str, lines: List[Line], workdir: str, txdelay: int, baseline: Optional[str] = None
) -> List[subprocess.Popen]:
    """
    Start C{program} on every line; return its processes once every
    session is open.  The program C{baseline} is tcpbridge from the
    checkout at C{baseline}.
    """
    log = open(os.path.join(workdir, program + ".log"), "ab")
    common = dict(stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                  cwd=workdir, start_new_session=True)
    procs = []
    try:
        if program in ("tcpbridge", "baseline"):
            ini = os.path.join(workdir, "linerate.ini")
            with open(ini, "w") as f:
                for i, line in enumerate(lines):
                    f.write(
                        "[bridge:b%d]\ndevice = %s\ninterface = %s\ntcpport = %d\n"
                        "dlemode = 1\ntcptxdelay = %d\n\n"
                        % (i, line.device, LOOPBACK, line.port, txdelay)
                    )
            argv = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                    "-n", "--pidfile=", "tcpbridge", "--config", ini]
            root = baseline if program == "baseline" else None
            procs.append(subprocess.Popen(argv, env=serviceEnv(root), **common))
        elif program == "socat":
            for line in lines:
                argv = ["socat", "FILE:%s,raw,echo=0" % (line.device,),
                        "TCP-LISTEN:%d,bind=%s,reuseaddr" % (line.port, LOOPBACK)]
                procs.append(subprocess.Popen(argv, **common))
        else:
            conf = os.path.join(workdir, "ser2net.yaml")
            with open(conf, "w") as f:
                for i, line in enumerate(lines):
                    f.write(
                        "connection: &c%d\n  accepter: tcp,%s,%d\n"
                        "  connector: serialdev,%s,115200n81,local\n"
                        "  options:\n    kickolduser: true\n\n"
                        % (i, LOOPBACK, line.port, line.device)
                    )
            argv = ["ser2net", "-n", "-u", "-c", conf,
                    "-P", os.path.join(workdir, "ser2net.pid")]
            procs.append(subprocess.Popen(argv, **common))
    finally:
        log.close()
    bench._LIVE.extend(procs)
    if bench.SERVICE_CPU is not None:
        for proc in procs:
            os.sched_setaffinity(proc.pid, {bench.SERVICE_CPU})
    deadline = time.monotonic() + 60
    if program in ("tcpbridge", "baseline"):
        waitDevicesOpen([p.pid for p in procs], [line.device for line in lines])
        for line in lines:
            line.command(b"AT", repeat=True)
            line.command(b"AT#LTCPSTART")
    for line in lines:
        line.connect(deadline)
        if program in ("tcpbridge", "baseline") and not line.hostUntil(WAITING_FOR_DATA, deadline):
            raise BenchError("%s: no Ok_Info_WaitingForData" % (line.device,))
    for line in lines:
        assert line.sock is not None
        line.sock.setblocking(False)
    return procs


def usage(procs: List[subprocess.Popen]) -> Tuple[float, int, int, int]:
    """
    CPU seconds and wake-ups of every process so far, and its user and
    kernel time in clock ticks (C{/proc/PID/stat}: coarse, but enough to
    tell what share of the CPU was spent in the kernel).
    """
    cpu, runs, user, system = 0.0, 0, 0, 0
    for proc in procs:
        if proc.poll() is not None:
            raise BenchError("pid %d exited with status %s" % (proc.pid, proc.returncode))
        c, r = schedstat(proc.pid)
        cpu += c
        runs += r
        with open("/proc/%d/stat" % (proc.pid,)) as f:
            fields = f.read().rpartition(")")[2].split()
        user += int(fields[11])
        system += int(fields[12])
    return cpu, runs, user, system


def readSome(fd: int) -> int:
    """
    Read what C{fd} has; return how many bytes.
    """
    try:
        return len(os.read(fd, 65536))
    except BlockingIOError:
        return 0
    except OSError as e:
        raise BenchError("a session broke: %s" % (e,))


def drive(
    lines: List[Line], procs: List[subprocess.Popen], rate: float, chunk: int, seconds: float,
    tick: float,
) -> Dict[str, float]:
    """
    Move data both ways on every line at C{rate} bytes a second each way,
    in C{chunk}-byte writes made every C{tick} seconds, for a warm-up and
    then C{seconds} measured.
    """
    block = os.urandom(1 << 16).translate(_PLAIN)
    # Streams: (write fd, index); host writes on the master, peer on the socket.
    writers = []
    for line in lines:
        assert line.sock is not None
        writers.append(line.master)
        writers.append(line.sock.fileno())
    count = len(writers)
    readers = {}
    for i, line in enumerate(lines):
        assert line.sock is not None
        readers[line.sock.fileno()] = 2 * i  # what the host sent
        readers[line.master] = 2 * i + 1  # what the peer sent
    sent = [0] * count
    received = [0] * count
    backlog: List[bytes] = [b""] * count
    poller = select.epoll()
    for fd in readers:
        poller.register(fd, select.EPOLLIN)
    interval = chunk / rate
    step = interval / count
    begin = time.monotonic()
    measureFrom = begin + WARMUP
    stopAt = measureFrom + seconds
    usage0: Optional[Tuple[float, int, int, int]] = None
    sent0 = 0
    own0 = (0.0, 0)
    writes = 0
    k = 0
    due = begin
    offset = 0
    nextTick = now = begin
    while now < stopAt:
        now = time.monotonic()
        if usage0 is None and now >= measureFrom:
            usage0 = usage(procs)
            own0 = schedstat("self")
            writes = 0
            sent0 = sum(sent)
        if now >= nextTick:
            # Every chunk due by now, in the fixed order that spreads them.
            # Writes go out on the tick only, whatever arrives in between,
            # so every program is offered the same bursts.
            while due <= now and due < stopAt:
                if len(backlog[k]) >= MAX_BACKLOG:
                    # The program does not take this stream's bytes: no more.
                    data = backlog[k]
                else:
                    data = backlog[k] + block[offset:offset + chunk]
                    offset = (offset + chunk) % (len(block) - chunk)
                try:
                    n = os.write(writers[k], data)
                except BlockingIOError:
                    n = 0
                except OSError as e:
                    raise BenchError("a session broke: %s" % (e,))
                writes += 1
                sent[k] += n
                backlog[k] = data[n:]
                k += 1
                if k == count:
                    k = 0
                due += step
            while nextTick <= now:
                nextTick += tick
        timeout = max(0.0, min(nextTick, stopAt) - time.monotonic())
        for fd, _ in poller.poll(timeout):
            received[readers[fd]] += readSome(fd)
    assert usage0 is not None
    usage1 = usage(procs)
    own1 = schedstat("self")
    behind = time.monotonic() - due
    moved = sum(sent) - sent0
    # The rest in flight, then every byte must have arrived.
    for k, rest in enumerate(backlog):
        while rest:
            try:
                n = os.write(writers[k], rest)
                sent[k] += n
                rest = rest[n:]
            except BlockingIOError:
                time.sleep(0.01)
            except OSError as e:
                raise BenchError("a session broke: %s" % (e,))
    drainUntil = time.monotonic() + DRAIN
    while received != sent and time.monotonic() < drainUntil:
        for fd, _ in poller.poll(0.1):
            received[readers[fd]] += readSome(fd)
    poller.close()
    if received != sent:
        short = sum(1 for a, b in zip(sent, received) if a != b)
        raise BenchError("%d of %d streams lost bytes (%d sent, %d received)"
                         % (short, count, sum(sent), sum(received)))
    return {
        "cpu": usage1[0] - usage0[0],
        "wakeups": usage1[1] - usage0[1],
        "kernel": (usage1[3] - usage0[3]) / max(1, usage1[2] + usage1[3] - usage0[2] - usage0[3]),
        "harness": own1[0] - own0[0],
        "writes": writes,
        "seconds": seconds,
        "behind": max(0.0, behind),
        "rate": moved / count / seconds,
    }


def runOne(program: str, n: int, rate: float, chunk: int, seconds: float, tick: float,
           workdir: str, txdelay: int, baseline: Optional[str]) -> Dict[str, float]:
    lines = [Line(port) for port in listenPorts(n)]
    procs: List[subprocess.Popen] = []
    try:
        procs = start(program, lines, workdir, txdelay, baseline)
        return drive(lines, procs, rate, chunk, seconds, tick)
    finally:
        for line in lines:
            line.close()
        for proc in procs:
            bench.stopProcess(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="32,128,256",
                        help="session counts, comma-separated (default 32,128,256)")
    parser.add_argument("--rates", default="1.2,12",
                        help="KB/s each way per session, comma-separated (default 1.2,12)")
    parser.add_argument("--chunk", type=int, default=32,
                        help="bytes per write, each side (default 32; a UART gives 16-64)")
    parser.add_argument("--tick", type=float, default=1.0,
                        help="ms between the benchmark's rounds of writes (default 1): every "
                        "chunk due goes out on the tick, so every program gets the same bursts")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="seconds measured per run, after a %.0f s warm-up" % (WARMUP,))
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs per figure, interleaved between programs; the median is shown")
    parser.add_argument("--programs", default=",".join(PROGRAMS),
                        help="programs to run, comma-separated (default: all found)")
    parser.add_argument("--txdelay", type=int, default=0,
                        help="tcpbridge's TCPTXDELAY in ms (default 0: every read sent at once, "
                        "as the others do)")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="also run the tcpbridge of the checkout in DIR (for instance an "
                        "earlier version, from git archive), as the program 'baseline'")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the programs and the benchmark to separate CPUs")
    args = parser.parse_args()
    bench.handleSignals()

    programs = []
    for program in args.programs.split(","):
        if program != "tcpbridge" and not shutil.which(program):
            print("%s not found on PATH: skipped (apt-get install %s)" % (program, program))
            continue
        programs.append(program)
    if args.baseline:
        programs.append("baseline")
    sessions = [int(x) for x in args.sessions.split(",")]
    rates = [float(x) for x in args.rates.split(",")]
    pinning = bench.pinCpus(not args.no_pin)
    print("line-rate benchmark: %d-byte chunks written on a %.1f ms tick, %.0f s measured per "
          "run, median of %d interleaved runs; %s; tcpbridge TCPTXDELAY %d ms"
          % (args.chunk, args.tick, args.seconds, args.repeats, pinning, args.txdelay),
          flush=True)
    workdir = tempfile.mkdtemp(prefix="tcpbridge-linerate-")
    rows = []
    notes: List[str] = []
    try:
        for n in sessions:
            for kbps in rates:
                rate = kbps * 1000
                runs: Dict[str, List[Dict[str, float]]] = {p: [] for p in programs}
                for attempt in range(args.repeats):
                    for program in programs:
                        label = "N=%d %.1f KB/s %s" % (n, kbps, program)
                        print("  %-32s" % (label,), end="", flush=True)
                        try:
                            r = runOne(program, n, rate, args.chunk, args.seconds,
                                       args.tick / 1000, workdir, args.txdelay, args.baseline)
                        except BenchError as e:
                            print(" FAILED: %s" % (e,), flush=True)
                            continue
                        runs[program].append(r)
                        print(" %.2f%% of a core per bridge (%.0f%% in the kernel), %.0f wake-ups/s, "
                              "%.2f KB/s each way, harness %.0f%%%s"
                              % (100 * r["cpu"] / r["seconds"] / n, 100 * r["kernel"],
                                 r["wakeups"] / r["seconds"],
                                 r["rate"] / 1000, 100 * r["harness"] / r["seconds"],
                                 ", harness %.2f s behind" % r["behind"] if r["behind"] > 0.1
                                 else ""), flush=True)
                row: Dict[str, Optional[Tuple[float, float]]] = {}
                for program in programs:
                    if not runs[program]:
                        row[program] = None
                        continue
                    cpu = statistics.median(r["cpu"] / r["seconds"] / n for r in runs[program])
                    wake = statistics.median(r["wakeups"] / r["seconds"] for r in runs[program])
                    achieved = statistics.median(r["rate"] for r in runs[program])
                    row[program] = (100 * cpu, wake)
                    if achieved < 0.95 * rate:
                        notes.append("N=%d %.1f KB/s %s: only %.2f KB/s each way reached (the "
                                     "benchmark or the program could not keep up)"
                                     % (n, kbps, program, achieved / 1000))
                rows.append((n, kbps, row))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        bench.stopAll()
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("CPU: % of one core per bridge (all the program's processes, from schedstat); "
          "wake/s: times the scheduler put the program on a CPU, per second, all bridges")
    header = "%6s %7s" % ("N", "KB/s")
    for program in programs:
        header += " | %9s %8s" % (program[:9] + " %", "wake/s")
    others = [p for p in programs if p != "tcpbridge"]
    for program in others:
        header += " | %11s" % ("t/" + program)
    print(header)
    print("-" * len(header))
    for n, kbps, row in rows:
        text = "%6d %7.1f" % (n, kbps)
        for program in programs:
            v = row.get(program)
            text += " | %9s %8s" % (("%.3f" % v[0], "%.0f" % v[1]) if v else ("FAIL", "-"))
        t = row.get("tcpbridge")
        for program in others:
            v = row.get(program)
            text += " | %11s" % ("%.2f" % (t[0] / v[0]) if t and v and v[0] > 0 else "n/a")
        print(text)
    for note in notes:
        print("note: " + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
