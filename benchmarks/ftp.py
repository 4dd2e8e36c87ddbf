#!/usr/bin/env python3
"""
Benchmark FTP transfers through tcpbridge against the same transfers made
directly with Twisted's FTP client, on the same machine.

One FTP server (Twisted's own, anonymous, over a temporary directory) runs
in a process of its own.  Through the bridge: the service runs under twistd
on a ``pty:`` device, and this process plays the host on it, sending
``AT#FTPGET`` (reading the file DLE-coded until the bare ETX and ``OK``)
and ``AT#FTPPUT`` (writing the file DLE-coded, then the bare ETX, until
``OK``).  Directly: a process runs Twisted's ``FTPClient`` against the same
server.  Each figure is the time from the command (or the connection) to
the server's confirmation, so login is counted both ways; the median of
several runs.

Run it with the Python of the environment tcpbridge is installed in::

    python benchmarks/ftp.py [--size MB] [--repeats N]

All traffic stays on 127.0.0.1.
"""

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from typing import List, Tuple

MB = 1 << 20
OK = b"\r\nOK\r\n"
#: Seconds any single step may take.
STEP_TIMEOUT = 120.0


# -- the two helper processes -------------------------------------------------


#: The FTP user (Twisted's server lets anonymous users read only).
USER = "bench"


def serve(root: str) -> None:
    """
    Run Twisted's FTP server on 127.0.0.1 for the user C{bench}, whose
    home is C{root}; print its port.
    """
    from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
    from twisted.cred.portal import Portal
    from twisted.internet import reactor
    from twisted.protocols.ftp import FTPFactory, FTPRealm

    checker = InMemoryUsernamePasswordDatabaseDontUse()
    checker.addUser(USER, USER)  # the server hands it text, not bytes
    realm = FTPRealm(root, os.path.dirname(root))
    factory = FTPFactory(Portal(realm, [checker]))
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()


def direct(port: int, how: str, name: str, path: str) -> None:
    """
    Get or put one file with Twisted's FTP client; print the seconds taken
    from the connection to the server's confirmation.
    """
    from twisted.internet import reactor
    from twisted.internet.protocol import ClientCreator, Protocol
    from twisted.protocols.basic import FileSender
    from twisted.protocols.ftp import FTPClient

    class Sink(Protocol):
        size = 0

        def dataReceived(self, data: bytes) -> None:
            self.size += len(data)

    started = time.perf_counter()

    async def transfer() -> None:
        client = await ClientCreator(reactor, FTPClient, USER, USER, passive=1).connectTCP("127.0.0.1", port)
        if how == "get":
            await client.retrieveFile(name, Sink())
        else:
            connected, done = client.storeFile(name)
            consumer = await connected
            with open(path, "rb") as f:
                await FileSender().beginFileTransfer(f, consumer)
            consumer.finish()
            await done
        print(time.perf_counter() - started, flush=True)
        client.transport.loseConnection()

    from twisted.internet.defer import Deferred

    d = Deferred.fromCoroutine(transfer())
    d.addErrback(lambda f: print("error:", f.getErrorMessage(), flush=True))
    d.addBoth(lambda _: reactor.stop())
    reactor.run()


# -- the host on the bridge's pty ------------------------------------------------


class Host:
    """
    The host's end of a bridge's C{pty:} device, blocking.
    """

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view[: 1 << 16]) :]

    def readUntil(self, done: "object") -> bytes:
        chunks: List[bytes] = []
        tail = b""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RuntimeError("no answer from the bridge; last bytes %r" % (tail,))
            chunk = os.read(self.fd, 1 << 16)
            chunks.append(chunk)
            tail = (tail + chunk)[-64:]
            if done(tail):  # type: ignore[operator]
                return b"".join(chunks)

    def command(self, line: bytes) -> bytes:
        self.write(line + b"\r")
        answer = self.readUntil(lambda tail: tail.endswith(OK) or b"ERROR" in tail)
        if not answer.endswith(OK):
            raise RuntimeError("%r answered %r" % (line, answer))
        return answer

    def close(self) -> None:
        os.close(self.fd)


def dleEncode(data: bytes) -> bytes:
    return data.replace(b"\x10", b"\x10\x10").replace(b"\x03", b"\x10\x03")


def dleDecode(data: bytes) -> bytes:
    return data.replace(b"\x10\x03", b"\x03").replace(b"\x10\x10", b"\x10")


def viaBridge(host: Host, how: str, name: str, data: bytes) -> float:
    started = time.perf_counter()
    if how == "get":
        host.command(b'AT#FTPGETFILENAME="%s"' % (name.encode(),))
        started = time.perf_counter()
        host.write(b"AT#FTPGET\r")
        end = b"\x03" + OK
        received = host.readUntil(lambda tail: tail.endswith(end))
        took = time.perf_counter() - started
        begin = b"\r\nOk_Info_DataBegin\r\n"
        if not received.startswith(begin) or dleDecode(received[len(begin) : -len(end)]) != data:
            raise RuntimeError("the file did not arrive intact")
        return took
    host.command(b'AT#FTPPUTFILENAME="%s"' % (name.encode(),))
    coded = dleEncode(data) + b"\x03"
    started = time.perf_counter()
    host.write(b"AT#FTPPUT\r")
    host.readUntil(lambda tail: tail.endswith(b"\r\nOk_Info_WaitingForData\r\n"))
    host.write(coded)
    host.readUntil(lambda tail: tail.endswith(OK) or b"ERROR" in tail)
    return time.perf_counter() - started


def startBridge(work: str, port: int) -> Tuple[subprocess.Popen, Host]:
    device = os.path.join(work, "host")
    config = os.path.join(work, "bench.ini")
    with open(config, "w") as f:
        f.write(
            "[bridge:bench]\ndevice = pty:%s\nftpserv = 127.0.0.1\nftpport = %d\n"
            "ftpun = %s\nftppw = %s\n" % (device, port, USER, USER)
        )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
         "--pidfile=", "--logfile", os.path.join(work, "bridge.log"), "tcpbridge", "--config", config],
        cwd=work,
        # The checkout first, so that twistd finds its plugin in an editable
        # install too.
        env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    deadline = time.monotonic() + 20
    while not os.path.exists(device):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the bridge did not start; see %s" % (os.path.join(work, "bridge.log"),))
        time.sleep(0.05)
    host = Host(device)
    host.command(b"ATE0")
    return proc, host


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64, help="MB per file (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--direct", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.direct:
        port, how, name, path = args.direct
        direct(int(port), how, name, path)
        return 0

    work = tempfile.mkdtemp(prefix="tcpbridge-ftp-bench-")
    root = os.path.join(work, USER)
    os.makedirs(root)
    data = os.urandom(args.size * MB)
    source = os.path.join(work, "source.bin")
    with open(source, "wb") as f:
        f.write(data)
    shutil.copy(source, os.path.join(root, "get.bin"))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", root], stdout=subprocess.PIPE, text=True
    )
    bridge = None
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        bridge, host = startBridge(work, port)
        times = {key: [] for key in ("direct get", "bridge get", "direct put", "bridge put")}
        for run in range(args.repeats):
            for how in ("get", "put"):
                name = "get.bin" if how == "get" else "put-direct-%d.bin" % (run,)
                out = subprocess.run(
                    [sys.executable, __file__, "--direct", str(port), how, name, source],
                    capture_output=True, text=True, timeout=STEP_TIMEOUT,
                ).stdout
                times["direct " + how].append(float(out.split()[0]))
                name = "get.bin" if how == "get" else "put-bridge-%d.bin" % (run,)
                times["bridge " + how].append(viaBridge(host, how, name, data))
                if how == "put":
                    with open(os.path.join(root, name), "rb") as f:
                        if f.read() != data:
                            raise RuntimeError("the uploaded file differs")
        host.close()
        mbps = {key: args.size / statistics.median(value) for key, value in times.items()}
        print("FTP, %d MB of random data, median of %d runs" % (args.size, args.repeats))
        print("figure | direct MB/s | bridge MB/s | ratio (direct/bridge, >1: bridge slower)")
        for how in ("get", "put"):
            direct_, bridge_ = mbps["direct " + how], mbps["bridge " + how]
            print("%s | %.1f | %.1f | %.2f" % (how, direct_, bridge_, direct_ / bridge_))
    finally:
        server.terminate()
        server.wait()
        if bridge is not None:
            bridge.terminate()
            bridge.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
