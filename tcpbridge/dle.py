"""
DLE/ETX coding of the serial line in data mode (SPEC section 5, DLEMODE 1).

Host to peer, C{DLE ETX} carries an ETX byte, C{DLE DLE} a DLE byte, a bare
ETX is the host's request to close the session, and a DLE followed by any
other byte passes both bytes unchanged.  Peer to host, every ETX and every
DLE is preceded by a DLE.

Pure code, no Twisted: the decoder keeps the one byte of state that lets an
escape be split across two reads.
"""

from typing import Optional, Tuple

DLE = b"\x10"
ETX = b"\x03"

_DLE = 0x10
_ETX = 0x03


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
        if not self._pendingDLE and _DLE not in data and _ETX not in data:
            return data, None
        out = bytearray()
        i = 0
        n = len(data)
        if self._pendingDLE and n:
            self._pendingDLE = False
            b = data[0]
            if b == _DLE or b == _ETX:
                out.append(b)
            else:
                out.append(_DLE)
                out.append(b)
            i = 1
        e = data.find(ETX, i)
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
                self._pendingDLE = True
                break
            b = data[d + 1]
            if b == _DLE or b == _ETX:
                out.append(b)
            else:
                out.append(_DLE)
                out.append(b)
            i = d + 2
        return bytes(out), None

    def flush(self) -> bytes:
        """
        Give back a DLE left waiting when the session ends: it was sent, so
        it is passed on unchanged rather than lost.
        """
        if self._pendingDLE:
            self._pendingDLE = False
            return DLE
        return b""
