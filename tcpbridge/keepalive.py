"""
TCP keepalive on a session's connection (the C{keepalive = SECONDS}
bridge key), so that a peer that vanished without a FIN or a reset (a
power cut, a NAT mapping dropped) is found.

The first probe goes after SECONDS of silence, then L{PROBES} more close
together, so the kernel gives up about twice SECONDS after the last byte;
the connection then fails like any other lost one, and the host is told as
for a peer close.
"""

import socket
from typing import Any, Optional, Tuple

#: Probes sent before the peer is given up.
PROBES = 3


def keepaliveTimes(seconds: int) -> Tuple[int, int, int]:
    """
    The kernel's idle time, probe interval and probe count for
    C{keepalive = seconds}: the idle time and the probes take about
    C{seconds} each.
    """
    return seconds, max(1, round(seconds / PROBES)), PROBES


def socketOf(transport: Any) -> Optional[socket.socket]:
    """
    The socket under a transport (TLS wraps the TCP transport), or L{None}
    if it has none.
    """
    for _ in range(4):
        if transport is None:
            return None
        getHandle = getattr(transport, "getHandle", None)
        handle = getHandle() if getHandle is not None else None
        if isinstance(handle, socket.socket):
            return handle
        transport = getattr(transport, "transport", None)
    return None


def enableKeepalive(transport: Any, seconds: Optional[int]) -> bool:
    """
    Turn keepalive on for C{transport}'s socket (nothing if C{seconds} is
    L{None} or there is no TCP socket).

    @return: whether it was turned on.
    """
    if not seconds:
        return False
    sock = socketOf(transport)
    if sock is None or sock.type != socket.SOCK_STREAM:
        return False
    idle, interval, count = keepaliveTimes(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
    return True
