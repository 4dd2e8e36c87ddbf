#!/usr/bin/env python3
"""
What tcpbridge's own code costs per chunk in data mode, without the kernel:
the path from a serial read to the peer's write (C{Modem.dataReceived}) and
from a peer read to the serial write (C{Session.peerData}), with both
transports' system calls stubbed to take every byte, timed in-process::

    python benchmarks/perchunk.py [--chunk BYTES] [--count N]

It measures the tcpbridge it imports (``PYTHONPATH=DIR`` measures the
checkout in DIR).  The figure is the best of five runs, in ns per chunk;
it leaves out the reactor's dispatch and the system calls, which
``linerate.py`` counts with the rest.
"""

import argparse
import functools
import os
import time
from typing import Callable

from twisted.internet.abstract import FileDescriptor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock

from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem
from tcpbridge.registry import CONNECTING
from tcpbridge.serial import LineWriter

try:
    from tcpbridge.writethrough import makeWriter
except ImportError:
    # A checkout from before the serial line wrote through makeWriter
    # (its LineWriter.write does it itself).
    makeWriter = None  # type: ignore[assignment]

#: Random bytes with every DLE and ETX changed into another byte.
_PLAIN = bytes(b if b not in (0x10, 0x03) else b + 0x40 for b in range(256))


class _Socket:
    """
    A socket whose kernel takes every byte at once.
    """

    send = staticmethod(len)


class Kernel(FileDescriptor):
    """
    A connected TCP-like file descriptor whose kernel takes every byte.
    """

    connected = 1
    socket = _Socket()

    def writeSomeData(self, data: bytes) -> int:
        return len(data)

    def getPeer(self) -> IPv4Address:
        return IPv4Address("TCP", "192.0.2.1", 4000)

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 4000)

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


class Line(LineWriter, Kernel):
    """
    The serial line's transport, written as tcpbridge writes it (straight
    to the system call, here one that takes every byte).
    """

    def __init__(self, reactor: MemoryReactorClock) -> None:
        Kernel.__init__(self, reactor)
        if makeWriter is not None:
            self.write = makeWriter(  # type: ignore[method-assign]
                self, len, functools.partial(FileDescriptor.write, self)
            )


def best(call: Callable[[bytes], None], data: bytes, count: int) -> float:
    """
    The least ns per call of five runs of C{count} calls.
    """
    least = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count):
            call(data)
        least = min(least, (time.perf_counter() - start) / count * 1e9)
    return least


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunk", type=int, default=32, help="bytes per chunk (default 32)")
    parser.add_argument("--count", type=int, default=300000, help="chunks per run")
    args = parser.parse_args()
    reactor = MemoryReactorClock()
    modem = Modem(BridgeConfig(), reactor)
    modem.makeConnection(Line(reactor))
    modem.dataReceived(b"ATE0\r")
    modem.claim(modem.services["tcp"], 1, CONNECTING)
    session = modem.openSession(Kernel(reactor), True, 0, "192.0.2.1:4000")
    data = os.urandom(args.chunk).translate(_PLAIN)
    print("host->peer %4.0f ns/chunk" % (best(modem.dataReceived, data, args.count),))
    print("peer->host %4.0f ns/chunk" % (best(session.peerData, data, args.count),))


if __name__ == "__main__":
    main()
