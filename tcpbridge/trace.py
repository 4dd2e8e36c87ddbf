"""
The optional per-bridge trace file: what crossed the
bridge, each chunk on one line with its direction, for debugging a host's
firmware.

A line reads::

    2026-11-30T05:05:13.123456Z host>   5 41 54 45 30 0d  |ATE0.|

Directions: C{host>} (from the host), C{>host} (to the host), C{peer>}
(from the peer) and C{>peer} (to the peer).
"""

import time
from typing import BinaryIO, Callable, Optional

from twisted.logger import Logger

FROM_HOST = "host>"
TO_HOST = ">host"
FROM_PEER = "peer>"
TO_PEER = ">peer"

_PRINTABLE = bytes(b if 32 <= b < 127 else 46 for b in range(256))


def formatLine(when: float, direction: str, data: bytes) -> bytes:
    """
    One trace line for C{data}, crossing in C{direction} at time C{when}.
    """
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
    micro = int((when % 1) * 1e6)
    return b"%s.%06dZ %-5s %5d %s  |%s|\n" % (
        stamp.encode("ascii"),
        micro,
        direction.encode("ascii"),
        len(data),
        data.hex(" ").encode("ascii"),
        data.translate(_PRINTABLE),
    )


class Trace:
    """
    Appends trace lines to a file.
    """

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._file: Optional[BinaryIO] = open(path, "ab")

    def __call__(self, direction: str, data: bytes) -> None:
        """
        Record one chunk.
        """
        if self._file is not None and data:
            self._file.write(formatLine(self.clock(), direction, data))
            self._file.flush()

    def close(self) -> None:
        """
        Close the file.
        """
        if self._file is not None:
            self._file.close()
            self._file = None


def openTrace(path: Optional[str], bridge: str) -> Optional[Trace]:
    """
    The bridge's trace file, if it has one and it can be opened (a failure
    is logged: the bridge runs without).
    """
    if not path:
        return None
    try:
        return Trace(path)
    except OSError as e:
        Logger().error("{bridge}: cannot open the trace file: {error}", bridge=bridge, error=e)
        return None
