"""
DLE/ETX coding of the serial line in data mode (DLEMODE 1).

Host to peer, C{DLE ETX} carries an ETX byte, C{DLE DLE} a DLE byte, a bare
ETX is the host's request to close the session, and a DLE followed by any
other byte passes both bytes unchanged.  Peer to host, every ETX and every
DLE is preceded by a DLE.

Pure code, no Twisted: the decoder keeps the one byte of state that lets an
escape be split across two reads.

The codec comes twice, with the same two functions: in pure Python here,
always available, and compiled (C{tcpbridge._dle}), built when the package
is installed where a C compiler is.  The compiled one is used when it
imports, unless the environment variable C{TCPBRIDGE_NO_ACCEL} is set (to
anything but C{0} or nothing); L{IMPLEMENTATIONS} holds every one that
imported, for the tests to check each against the same reference.
"""

import os
import re
from typing import Callable, Dict, Optional, Tuple

DLE = b"\x10"
ETX = b"\x03"

#: Decodes one read: C{(data, pending) -> (payload, rest, pending)}.
DecodeFunction = Callable[[bytes, bool], Tuple[bytes, Optional[bytes], bool]]
EncodeFunction = Callable[[bytes], bytes]

#: Below one DLE in this many bytes, escapes are few enough to split at.
_SPARSE = 32

#: An escape (its second byte captured) or a bare ETX (nothing captured).
#: Matched from the left, pairs fall as the host meant them: a DLE fails to
#: match only before a plain byte, which then cannot start a match itself.
_ESCAPE_OR_BARE = re.compile(b"\x10([\x10\x03])|\x03")

#: An ETX at the end of an even run of DLEs (zero included): the host's
#: request to close.  The look-behind anchors the run at its start.
_BARE_ETX = re.compile(b"(?<!\x10)(?:\x10\x10)*\x03")


def pyEncode(data: bytes) -> bytes:
    """
    Escape peer data for the host: every DLE and ETX gets a DLE in front.
    """
    if DLE in data:
        data = data.replace(DLE, DLE + DLE)
    if ETX in data:
        data = data.replace(ETX, DLE + ETX)
    return data


def pyDecode(data: bytes, pending: bool) -> Tuple[bytes, Optional[bytes], bool]:
    """
    Decode one read of the host's stream.

    @param pending: whether the previous read ended in a DLE still waiting
        for its partner.
    @return: C{(payload, rest, pending)}: C{rest} is L{None} while the
        session goes on, else the bytes after the bare ETX; C{pending} says
        whether this read ends in a waiting DLE.
    """
    if pending:
        data = DLE + data
    elif DLE not in data:
        if ETX not in data:
            return data, None, False
        # With no DLE at all, the first ETX is a bare one.
        i = data.index(ETX)
        return data[:i], data[i + 1 :], False
    # Two ways to the same result: splitting at each escape is the quicker
    # where escapes are few (ordinary data), whole-buffer replacements where
    # they are many (a Python step per escape would crawl).
    if data.count(DLE) * _SPARSE < len(data):
        return _split(data)
    return _replace(data)


def _split(data: bytes) -> Tuple[bytes, Optional[bytes], bool]:
    # Texts at even indices, each escape's decoded byte (or None for a bare
    # ETX) at odd ones.
    parts = _ESCAPE_OR_BARE.split(data)
    if None in parts:
        k = parts.index(None)
        at = sum(map(len, parts[0:k:2])) + 2 * (k // 2)
        return b"".join(parts[:k]), data[at + 1 :], False
    if parts[-1].endswith(DLE):
        # A DLE whose partner is in the next read.
        parts[-1] = parts[-1][:-1]
        return b"".join(parts), None, True
    return b"".join(parts), None, False


def _replace(data: bytes) -> Tuple[bytes, Optional[bytes], bool]:
    rest: Optional[bytes] = None
    pending = False
    # With the DLE pairs taken out, each run of DLEs is down to its
    # parity: an ETX with no DLE before it there is a bare one.
    runs = data.replace(DLE + DLE, b"")
    if ETX in runs and runs.count(ETX) != runs.count(DLE + ETX):
        bare = _BARE_ETX.search(data)
        assert bare is not None
        data, rest = data[: bare.end() - 1], data[bare.end() :]
    elif runs.endswith(DLE):
        # A DLE whose partner is in the next read.
        pending = True
        data = data[:-1]
    # Every ETX left is escaped (after an odd run of DLEs): dropping the
    # DLE just before each ETX, then halving the DLE pairs from the left,
    # decodes the whole stream.
    if ETX in data:
        data = data.replace(DLE + ETX, ETX)
    if DLE + DLE in data:
        data = data.replace(DLE + DLE, DLE)
    return data, rest, pending


#: Every codec that imported, by name: C{(encode, decode)}.
IMPLEMENTATIONS: Dict[str, Tuple[EncodeFunction, DecodeFunction]] = {
    "python": (pyEncode, pyDecode)
}
try:
    from tcpbridge import _dle  # type: ignore[attr-defined]
except ImportError:
    pass
else:
    IMPLEMENTATIONS["c"] = (_dle.encode, _dle.decode)

#: The codec in use: the compiled one unless it is missing or refused.
IMPLEMENTATION = (
    "c"
    if "c" in IMPLEMENTATIONS and os.environ.get("TCPBRIDGE_NO_ACCEL", "") in ("", "0")
    else "python"
)

encode: EncodeFunction
_decode: DecodeFunction
encode, _decode = IMPLEMENTATIONS[IMPLEMENTATION]


class Decoder:
    """
    Incremental decoder of the host's DLE-coded byte stream.

    Feed it each read as it comes; it returns the payload decoded so far and,
    once a bare ETX is seen, the bytes that followed it (which belong to
    command mode, not to the session).
    """

    def __init__(self, decode: Optional[DecodeFunction] = None) -> None:
        """
        @param decode: the codec's decode function (the one in use by
            default; the tests pass each of L{IMPLEMENTATIONS}).
        """
        self._decode = decode if decode is not None else _decode
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
        payload, rest, self._pendingDLE = self._decode(data, self._pendingDLE)
        return payload, rest

    def flush(self) -> bytes:
        """
        Give back a DLE left waiting when the session ends: it was sent, so
        it is passed on unchanged rather than lost.
        """
        if self._pendingDLE:
            self._pendingDLE = False
            return DLE
        return b""
