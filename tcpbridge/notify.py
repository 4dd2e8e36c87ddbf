"""
Telling systemd how the service is doing (C{Type=notify}): one datagram
to the socket named by C{$NOTIFY_SOCKET}, as C{sd_notify(3)} sends it.
Without that variable (not under systemd) nothing is sent.
"""

import os
import socket
from typing import Mapping, Optional


def notify(state: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """
    Send C{state} (C{"READY=1"}, C{"RELOADING=1"}, C{"STOPPING=1"}, ...).

    @return: whether it was sent.
    """
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":
        # An abstract socket: its name starts with a NUL byte.
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall(state.encode("utf-8"))
    except OSError:
        return False
    return True
