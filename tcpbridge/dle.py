"""
DLE/ETX coding of the serial line in data mode (DLEMODE 1).

Host to peer, C{DLE ETX} carries an ETX byte, C{DLE DLE} a DLE byte, a bare
ETX is the host's request to close the session, and a DLE followed by any
other byte passes both bytes unchanged.  Peer to host, every ETX and every
DLE is preceded by a DLE.

Pure code, no Twisted: the decoder keeps the one byte of state that lets an
escape be split across two reads.
"""

import re
from typing import Optional, Tuple

DLE = b"\x10"
ETX = b"\x03"

_DLE = 0x10
_ETX = 0x03

#: Below one DLE in this many bytes, escapes are few enough to scan for.
_SPARSE = 32

#: An ETX at the end of an even run of DLEs (zero included): the host's
#: request to close.  The look-behind anchors the run at its start.
_BARE_ETX = re.compile(b"(?<!\x10)(?:\x10\x10)*\x03")


def encode(data: bytes) -> bytes:
    """
    Escape peer data for the host: every DLE and ETX gets a DLE in front.
    """
    if DLE in data:
        data = data.replace(DLE, DLE + DLE)
    if ETX in data:
        data = data.replace(ETX, DLE + ETX)
    return data


class Decoder:
    """
    Incremental decoder of the host's DLE-coded byte stream.

    Feed it each read as it comes; it returns the payload decoded so far and,
    once a bare ETX is seen, the bytes that followed it (which belong to
    command mode, not to the session).
    """

    def __init__(self) -> None:
        self._pendingDLE = False

    @property
    def pending(self) -> bool:
        """
        Whether the last byte fed was a DLE still waiting for its partner.
        """
        return self._pendingDLE

    def feed(self, data: bytes) -> Tuple[bytes, Optional[bytes]]:
        """
        Decode one read.

        @return: C{(payload, rest)}.  C{rest} is L{None} while the session
            goes on; after a bare ETX it is the (possibly empty) bytes that
            followed the ETX, and the decoder must not be fed again.
        """
        if self._pendingDLE:
            self._pendingDLE = False
            data = DLE + data
        elif DLE not in data and ETX not in data:
            return data, None
        # Two ways to the same result: a scan from escape to escape is the
        # quicker where escapes are few (ordinary data), whole-buffer
        # replacements where they are many (a loop per escape would crawl).
        if data.count(DLE) * _SPARSE < len(data):
            return self._scan(data)
        return self._replace(data)

    def _scan(self, data: bytes) -> Tuple[bytes, Optional[bytes]]:
        out = bytearray()
        i = 0
        n = len(data)
        e = data.find(ETX)
        while i < n:
            if e != -1 and e < i:
                e = data.find(ETX, i)
            d = data.find(DLE, i)
            if e != -1 and (d == -1 or e < d):
                out += data[i:e]
                return bytes(out), data[e + 1 :]
            if d == -1:
                out += data[i:]
                break
            out += data[i:d]
            if d + 1 == n:
                # A DLE whose partner is in the next read.
                self._pendingDLE = True
                break
            b = data[d + 1]
            if b != _DLE and b != _ETX:
                out.append(_DLE)
            out.append(b)
            i = d + 2
        return bytes(out), None

    def _replace(self, data: bytes) -> Tuple[bytes, Optional[bytes]]:
        rest: Optional[bytes] = None
        # With the DLE pairs taken out, each run of DLEs is down to its
        # parity: an ETX with no DLE before it there is a bare one.
        runs = data.replace(DLE + DLE, b"")
        if ETX in runs and runs.count(ETX) != runs.count(DLE + ETX):
            bare = _BARE_ETX.search(data)
            assert bare is not None
            data, rest = data[: bare.end() - 1], data[bare.end() :]
        elif runs.endswith(DLE):
            # A DLE whose partner is in the next read.
            self._pendingDLE = True
            data = data[:-1]
        # Every ETX left is escaped (after an odd run of DLEs): dropping the
        # DLE just before each ETX, then halving the DLE pairs from the
        # left, decodes the whole stream.
        if ETX in data:
            data = data.replace(DLE + ETX, ETX)
        if DLE + DLE in data:
            data = data.replace(DLE + DLE, DLE)
        return data, rest

    def flush(self) -> bytes:
        """
        Give back a DLE left waiting when the session ends: it was sent, so
        it is passed on unchanged rather than lost.
        """
        if self._pendingDLE:
            self._pendingDLE = False
            return DLE
        return b""
