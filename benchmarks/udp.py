#!/usr/bin/env python3
"""
Benchmark tcpbridge's UDP sessions against socat's UDP relay on the same
topology.

As in ``bench.py``, the benchmark plays the host on a pty master and the
service under test opens the slave; here the service listens on a loopback
UDP port (tcpbridge: ``AT#LUDPSTART``; socat: ``UDP-LISTEN``) and a UDP
socket of the benchmark, the peer, opens the session with a first datagram.
Both send datagrams of at most 1460 bytes (tcpbridge's ``udp_payload``,
socat's ``-b 1460``); tcpbridge runs with ``AT#UDPTXDELAY=0`` and
``AT#UDPDLEMODE=0`` (socat does no DLE coding).

    python benchmarks/udp.py [--size MB] [--repeats N] [--round-trips N]

Figures, each for tcpbridge and socat side by side: throughput host->peer
and peer->host (MB/s of payload delivered, and the share lost: UDP drops
what a receiver cannot take), and the one-byte round trip peer -> host ->
peer (median and p99).  Only the standard library is used; all traffic is
on 127.0.0.1.
"""

import argparse
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench import (  # noqa: E402
    LOOPBACK,
    MB,
    STEP_TIMEOUT,
    WAITING_FOR_DATA,
    _LIVE,
    BenchError,
    Report,
    Session,
    percentile,
    stopAll,
)

#: The checkout.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The largest datagram either service sends.
PAYLOAD = 1460
#: Seconds of silence after which the datagrams still missing count as lost.
QUIET = 1.0


def freeUDPPort() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


class UDPSession(Session):
    """
    One service process on a fresh pty, with a UDP session open to the
    peer socket C{sock}.
    """

    def _open(self) -> None:
        import tty

        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        device = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        port = freeUDPPort()
        self.logPath = os.path.join(self.workdir, "%s-udp-%d.log" % (self.kind, port))
        log = open(self.logPath, "wb")
        try:
            if self.kind == "tcpbridge":
                ini = os.path.join(self.workdir, "udp-%d.ini" % (port,))
                with open(ini, "w") as f:
                    f.write(
                        "[bridge:bench]\ndevice = %s\ninterface = %s\nudp_payload = %d\n"
                        % (device, LOOPBACK, PAYLOAD)
                    )
                argv = [
                    sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                    "-n", "--pidfile=", "tcpbridge", "--config", ini,
                ]
            else:
                argv = [
                    "socat", "-b%d" % (PAYLOAD,),
                    "FILE:%s,raw,echo=0" % (device,),
                    "UDP-LISTEN:%d,bind=%s" % (port, LOOPBACK),
                ]
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                # From the checkout, twistd finds the plugin in an editable
                # install too.
                cwd=ROOT, start_new_session=True,
            )
        finally:
            log.close()
        _LIVE.append(self.proc)
        if self.kind == "tcpbridge":
            self._waitDeviceOpen(device)
            self._command(b"AT", first=True)
            self._command(b"AT#UDPPORT=%d;#UDPDLEMODE=0;#UDPTXDELAY=0" % (port,))
            self._command(b"AT#LUDPSTART")
        else:
            self._waitBound(port)
        sock = self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOOPBACK, 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * MB)
        sock.connect((LOOPBACK, port))
        sock.send(b"open")
        self._hostUntil(WAITING_FOR_DATA + b"open" if self.kind == "tcpbridge" else b"open")
        sock.setblocking(False)

    def _waitBound(self, port: int) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            self.alive()
            try:
                freeBound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    freeBound.bind((LOOPBACK, port))
                finally:
                    freeBound.close()
            except OSError:
                return
            time.sleep(0.02)
        raise BenchError("socat never bound UDP port %d" % (port,))


def hostToPeer(session: UDPSession, size: int) -> Dict[str, float]:
    """
    The host writes C{size} random bytes; the peer reads datagrams until
    all arrived or none came for L{QUIET} seconds.
    """
    return _flow(session, size, fromHost=True)


def peerToHost(session: UDPSession, size: int) -> Dict[str, float]:
    """
    The peer sends C{size} random bytes in datagrams of L{PAYLOAD} bytes as
    fast as the kernel takes them; the host reads.
    """
    return _flow(session, size, fromHost=False)


def _flow(session: UDPSession, size: int, fromHost: bool) -> Dict[str, float]:
    assert session.sock is not None
    sock = session.sock
    data = memoryview(os.urandom(size))
    wfd, rfd = (session.master, sock.fileno()) if fromHost else (sock.fileno(), session.master)
    poller = select.poll()
    poller.register(wfd, select.POLLOUT)
    poller.register(rfd, select.POLLIN)
    written = received = 0
    start = time.monotonic()
    last = start
    while True:
        session.alive()
        now = time.monotonic()
        if written >= size and now - last > QUIET:
            break
        for fd, _ in poller.poll(100):
            if fd == wfd and written < size:
                try:
                    if fromHost:
                        written += os.write(wfd, data[written:written + 65536])
                    else:
                        written += sock.send(data[written:written + PAYLOAD])
                except (BlockingIOError, ConnectionRefusedError):
                    pass
                if written >= size:
                    poller.unregister(wfd)
                    last = time.monotonic()
            elif fd == rfd:
                while True:
                    try:
                        chunk = os.read(rfd, 262144) if not fromHost else sock.recv(65536)
                    except BlockingIOError:
                        break
                    received += len(chunk)
                    last = time.monotonic()
        if received >= size:
            break
    return {"elapsed": last - start, "received": received, "size": size}


def roundTrips(session: UDPSession, count: int) -> List[float]:
    """
    C{count} one-byte round trips, peer -> host -> peer, in microseconds
    (the first tenth, a warm-up, left out).
    """
    assert session.sock is not None
    sock = session.sock
    times = []
    for i in range(count):
        start = time.perf_counter()
        sock.send(b"x")
        deadline = time.monotonic() + STEP_TIMEOUT
        got = b""
        while not got:
            r, _, _ = select.select([session.master], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                raise BenchError("round trip %d: the host got nothing" % (i,))
            got = os.read(session.master, 16)
        os.write(session.master, got[:1])
        while True:
            r, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                raise BenchError("round trip %d: the peer got nothing back" % (i,))
            try:
                sock.recv(16)
                break
            except BlockingIOError:
                continue
        times.append((time.perf_counter() - start) * 1e6)
    return times[count // 10:]


def run(args: argparse.Namespace) -> int:
    size = int(args.size * MB)
    services = ["tcpbridge"] + (["socat"] if shutil.which("socat") else [])
    report = Report(services)
    if "socat" not in services:
        report.note("socat not found on PATH: its column is skipped")
    workdir = tempfile.mkdtemp(prefix="tcpbridge-udp-bench-")
    rows: Dict[str, Dict[str, Optional[float]]] = {}

    def put(row: str, kind: str, value: Optional[float]) -> None:
        rows.setdefault(row, {})[kind] = value

    try:
        for kind in services:
            for name, flow in (("host->peer", hostToPeer), ("peer->host", peerToHost)):
                rates, losses = [], []
                for _ in range(args.repeats):
                    try:
                        with UDPSession(kind, workdir) as session:
                            r = flow(session, size)
                    except BenchError as e:
                        report.note("%s %s: %s" % (kind, name, e))
                        continue
                    rates.append(r["received"] / MB / max(r["elapsed"], 1e-9))
                    losses.append(100.0 * (1 - r["received"] / r["size"]))
                    print("  %s %s: %.1f MB/s, %.1f%% lost" % (kind, name, rates[-1], losses[-1]),
                          flush=True)
                put("throughput %s DLE0 random" % (name,), kind,
                    statistics.median(rates) if rates else None)
                put("lost %s" % (name,), kind, statistics.median(losses) if losses else None)
            try:
                with UDPSession(kind, workdir) as session:
                    trips = roundTrips(session, args.round_trips)
                put("1-byte round trip median", kind, statistics.median(trips))
                put("1-byte round trip p99", kind, percentile(trips, 99))
            except BenchError as e:
                report.note("%s round trips: %s" % (kind, e))
    finally:
        stopAll()
    for row, values in rows.items():
        if row.startswith("throughput"):
            report.add(row, "MB/s", values, "higher")
        elif row.startswith("lost"):
            report.add(row, "%", values, "lower")
        else:
            report.add(row, "us", values, "lower")
    print()
    print(report.render())
    for note in report.notes:
        print("note: " + note)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=16, help="MB sent each way per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--round-trips", type=int, default=2000, help="round trips timed")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
