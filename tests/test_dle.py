"""
Tests for L{tcpbridge.dle}, the DLE/ETX coding of data mode (DLEMODE 1).

Every test of the codec runs once for each implementation (pure Python and
compiled), whichever one the service uses, against the same byte-at-a-time
reference.
"""

import os
import subprocess
import sys
from typing import List, Optional, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge import dle

DLE = 0x10
ETX = 0x03


def referenceWithEscapes(data: bytes) -> Tuple[bytes, Optional[bytes], int, bool]:
    """
    Decode a host stream one byte at a time, as the rules of DLEMODE 1 are
    worded.

    @return: the payload, the bytes after a bare ETX (L{None} if none), how
        many escaping DLEs were taken out, and whether a DLE is left waiting.
    """
    out = bytearray()
    escapes = 0
    i = 0
    while i < len(data):
        b = data[i]
        if b == ETX:
            return bytes(out), data[i + 1 :], escapes, False
        if b == DLE:
            if i + 1 == len(data):
                return bytes(out), None, escapes, True
            following = data[i + 1]
            if following in (DLE, ETX):
                out.append(following)
                escapes += 1
            else:
                out += bytes([DLE, following])
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out), None, escapes, False


def reference(data: bytes) -> Tuple[bytes, Optional[bytes], bool]:
    """
    L{referenceWithEscapes} without the count: the payload, the bytes after
    a bare ETX (or L{None}), and whether a DLE is left waiting.
    """
    payload, rest, escapes, pending = referenceWithEscapes(data)
    return payload, rest, pending


def decodeChunks(
    chunks: List[bytes], decode: Optional[dle.DecodeFunction] = None
) -> Tuple[bytes, Optional[bytes], dle.Decoder]:
    """
    Feed C{chunks} to a new decoder (using C{decode}), one read each,
    stopping at the bare ETX.

    @return: the payload, the whole rest after the bare ETX (the rest of the
        read that held it and every later read), and the decoder.
    """
    decoder = dle.Decoder(decode)
    payload = b""
    for index, chunk in enumerate(chunks):
        data, rest = decoder.feed(chunk)
        payload += data
        if rest is not None:
            return payload, rest + b"".join(chunks[index + 1 :]), decoder
    return payload, None, decoder


def splitAt(data: bytes, points: List[int]) -> List[bytes]:
    """
    Cut C{data} at each of C{points} (any order, repeats allowed).
    """
    edges = [0] + sorted(points) + [len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


#: A payload dense in DLE and ETX bytes: every byte value, several times,
#: and runs of the two special bytes.
PAYLOAD = bytes(range(256)) * 4 + b"\x10\x03" * 8 + b"\x10" * 5 + b"\x03" * 5

#: Why the compiled codec's tests are skipped, or None when it is built.
NO_C = None if "c" in dle.IMPLEMENTATIONS else "the compiled codec is not built (no C compiler)"


#: The mixins' tests run once per codec, each time from another class, which
#: is what hypothesis's differing-executors check flags; no state is shared.
PER_CODEC = settings(suppress_health_check=[HealthCheck.differing_executors])


class CodecMixin:
    """
    The codec under test, by name in L{dle.IMPLEMENTATIONS}.
    """

    implementation = "python"

    def encode(self, data: bytes) -> bytes:
        return dle.IMPLEMENTATIONS[self.implementation][0](data)

    @property
    def decode(self) -> dle.DecodeFunction:
        return dle.IMPLEMENTATIONS[self.implementation][1]

    def decoder(self) -> dle.Decoder:
        return dle.Decoder(self.decode)


class CompiledCodec:
    """
    Makes a codec test class test the compiled codec (skipped where it is
    not built).
    """

    implementation = "c"
    skip = NO_C


#: On the wire: the payload escaped, then DLE pairs that pass unchanged.
WIRE = dle.pyEncode(PAYLOAD) + b"\x10A\x10\xff\x10\x00" + dle.pyEncode(b"\x03\x10")
EXPECTED = PAYLOAD + b"\x10A\x10\xff\x10\x00" + b"\x03\x10"


class EncodeMixin(CodecMixin):
    """
    Tests for L{dle.encode}, peer to host.
    """

    def test_everyByte(self) -> None:
        """
        Every byte value but DLE and ETX passes unchanged; DLE and ETX get a DLE in front.
        """
        for value in range(256):
            byte = bytes([value])
            if value in (DLE, ETX):
                self.assertEqual(self.encode(byte), b"\x10" + byte, value)
            else:
                self.assertEqual(self.encode(byte), byte, value)

    def test_allBytesTogether(self) -> None:
        """
        Encoding all 256 byte values adds exactly one DLE before DLE and one before ETX.
        """
        data = bytes(range(256))
        expected = data[:3] + b"\x10\x03" + data[4:16] + b"\x10\x10" + data[17:]
        self.assertEqual(self.encode(data), expected)

    def test_runs(self) -> None:
        """
        Runs of DLE and ETX are each escaped byte by byte.
        """
        self.assertEqual(self.encode(b"\x10\x10\x03\x03"), b"\x10\x10\x10\x10\x10\x03\x10\x03")

    def test_empty(self) -> None:
        """
        Nothing encodes to nothing.
        """
        self.assertEqual(self.encode(b""), b"")

    @settings(PER_CODEC, max_examples=200, deadline=None)
    @given(st.binary(max_size=300), st.data())
    def test_roundTripAnyChunking(self, data: bytes, draw: st.DataObject) -> None:
        """
        Encoding then decoding gives back the data, however the encoded bytes are split into reads.
        """
        wire = self.encode(data)
        points = draw.draw(st.lists(st.integers(0, len(wire)), max_size=20))
        payload, rest, decoder = decodeChunks(splitAt(wire, points), self.decode)
        self.assertIsNone(rest)
        self.assertEqual(payload, data)
        self.assertFalse(decoder.pending)
        self.assertEqual(decoder.flush(), b"")


class DecoderMixin(CodecMixin):
    """
    Tests for L{dle.Decoder}, host to peer.
    """

    def test_everyByteAlone(self) -> None:
        """
        Each byte value fed alone passes, except a DLE (held back) and an ETX (the close request).
        """
        for value in range(256):
            decoder = self.decoder()
            byte = bytes([value])
            if value == ETX:
                self.assertEqual(decoder.feed(byte), (b"", b""))
            elif value == DLE:
                self.assertEqual(decoder.feed(byte), (b"", None))
                self.assertTrue(decoder.pending)
            else:
                self.assertEqual(decoder.feed(byte), (byte, None), value)
                self.assertFalse(decoder.pending)

    def test_everyByteEscaped(self) -> None:
        """
        DLE before DLE or ETX gives that byte; DLE before any other byte passes both bytes.
        """
        for value in range(256):
            byte = bytes([value])
            expected = byte if value in (DLE, ETX) else b"\x10" + byte
            self.assertEqual(self.decoder().feed(b"\x10" + byte), (expected, None), value)

    def test_everyByteEncoded(self) -> None:
        """
        Each encoded byte value decodes back to itself.
        """
        for value in range(256):
            byte = bytes([value])
            self.assertEqual(self.decoder().feed(self.encode(byte)), (byte, None), value)

    def test_allBytesEncoded(self) -> None:
        """
        All 256 byte values, encoded in one read, decode back to themselves.
        """
        data = bytes(range(256))
        self.assertEqual(self.decoder().feed(self.encode(data)), (data, None))

    def test_plainData(self) -> None:
        """
        Bytes with no DLE and no ETX pass unchanged.
        """
        self.assertEqual(self.decoder().feed(b"hello"), (b"hello", None))

    def test_bareETXReturnsRest(self) -> None:
        """
        A bare ETX ends the payload; the bytes after it, ETX included, are returned as the rest.
        """
        self.assertEqual(self.decoder().feed(b"ab\x03AT\r\x03"), (b"ab", b"AT\r\x03"))

    def test_bareETXAtEnd(self) -> None:
        """
        A bare ETX that ends a read returns an empty rest, not L{None}.
        """
        self.assertEqual(self.decoder().feed(b"ab\x03"), (b"ab", b""))

    def test_bareETXAfterEscapes(self) -> None:
        """
        An escaped ETX before the bare one is payload; the bare one still ends the session.
        """
        self.assertEqual(
            self.decoder().feed(b"a\x10\x03b\x10\x10c\x03rest"), (b"a\x03b\x10c", b"rest")
        )

    def test_dlePassesOtherByte(self) -> None:
        """
        A DLE followed by a byte other than DLE or ETX passes both bytes.
        """
        self.assertEqual(self.decoder().feed(b"\x10A\x10\x00"), (b"\x10A\x10\x00", None))

    def test_dleAcrossReads(self) -> None:
        """
        A DLE ending one read and the ETX starting the next are an escaped ETX.
        """
        decoder = self.decoder()
        self.assertEqual(decoder.feed(b"a\x10"), (b"a", None))
        self.assertTrue(decoder.pending)
        self.assertEqual(decoder.feed(b"\x03b"), (b"\x03b", None))
        self.assertFalse(decoder.pending)

    def test_dleDleAcrossReads(self) -> None:
        """
        A DLE ending one read and the DLE starting the next are one DLE byte.
        """
        decoder = self.decoder()
        self.assertEqual(decoder.feed(b"\x10"), (b"", None))
        self.assertEqual(decoder.feed(b"\x10"), (b"\x10", None))
        self.assertFalse(decoder.pending)

    def test_dleOtherAcrossReads(self) -> None:
        """
        A DLE ending one read and an ordinary byte starting the next pass both.
        """
        decoder = self.decoder()
        self.assertEqual(decoder.feed(b"\x10"), (b"", None))
        self.assertEqual(decoder.feed(b"Z\x03"), (b"\x10Z", b""))

    def test_pendingDLESurvivesEmptyRead(self) -> None:
        """
        An empty read between a DLE and its partner does not lose the DLE.
        """
        decoder = self.decoder()
        decoder.feed(b"\x10")
        self.assertEqual(decoder.feed(b""), (b"", None))
        self.assertTrue(decoder.pending)
        self.assertEqual(decoder.feed(b"\x03"), (b"\x03", None))

    def test_flushPendingDLE(self) -> None:
        """
        C{flush} gives back a DLE left waiting, once.
        """
        decoder = self.decoder()
        decoder.feed(b"ab\x10")
        self.assertEqual(decoder.flush(), b"\x10")
        self.assertFalse(decoder.pending)
        self.assertEqual(decoder.flush(), b"")

    def test_flushNothingPending(self) -> None:
        """
        C{flush} gives nothing when no DLE is waiting.
        """
        decoder = self.decoder()
        decoder.feed(b"ab\x10\x10")
        self.assertEqual(decoder.flush(), b"")

    def test_denseInputOneRead(self) -> None:
        """
        The DLE-dense wire bytes decode to the expected payload in one read.
        """
        payload, rest, decoder = decodeChunks([WIRE], self.decode)
        self.assertEqual(payload, EXPECTED)
        self.assertIsNone(rest)
        self.assertEqual(reference(WIRE), (EXPECTED, None, False))

    def test_denseInputEverySplitPoint(self) -> None:
        """
        The DLE-dense wire bytes split into two reads at every point decode to the same payload.
        """
        for point in range(len(WIRE) + 1):
            payload, rest, decoder = decodeChunks([WIRE[:point], WIRE[point:]], self.decode)
            self.assertEqual(payload, EXPECTED, "split at %d" % (point,))
            self.assertIsNone(rest, "split at %d" % (point,))
            self.assertFalse(decoder.pending, "split at %d" % (point,))

    def test_denseInputByteByByte(self) -> None:
        """
        The DLE-dense wire bytes fed one byte per read decode to the same payload.
        """
        chunks = [WIRE[i : i + 1] for i in range(len(WIRE))]
        payload, rest, decoder = decodeChunks(chunks, self.decode)
        self.assertEqual(payload, EXPECTED)
        self.assertIsNone(rest)

    def test_closeEverySplitPoint(self) -> None:
        """
        Dense wire bytes, a bare ETX and command bytes, split at every point, give the payload and
        the command bytes.
        """
        stream = WIRE + b"\x03AT\r\x10\x03"
        for point in range(len(stream) + 1):
            payload, rest, decoder = decodeChunks([stream[:point], stream[point:]], self.decode)
            self.assertEqual(payload, EXPECTED, "split at %d" % (point,))
            self.assertEqual(rest, b"AT\r\x10\x03", "split at %d" % (point,))

    def test_closeByteByByte(self) -> None:
        """
        Dense wire bytes and a bare ETX fed one byte per read stop at the ETX.
        """
        stream = WIRE + b"\x03AT\r"
        chunks = [stream[i : i + 1] for i in range(len(stream))]
        payload, rest, decoder = decodeChunks(chunks, self.decode)
        self.assertEqual(payload, EXPECTED)
        self.assertEqual(rest, b"AT\r")

    @settings(PER_CODEC, max_examples=300, deadline=None)
    @given(
        st.lists(
            st.one_of(st.sampled_from([DLE, ETX, DLE, 0x41]), st.integers(0, 255)),
            max_size=200,
        ).map(bytes),
        st.data(),
    )
    def test_restOnlyAfterBareETX(self, stream: bytes, draw: st.DataObject) -> None:
        """
        Under any chunking, decoding returns a rest exactly when the stream holds a bare ETX, and
        the payload the specification's rules give.
        """
        points = draw.draw(st.lists(st.integers(0, len(stream)), max_size=20))
        payload, rest, decoder = decodeChunks(splitAt(stream, points), self.decode)
        expectedPayload, expectedRest, expectedPending = reference(stream)
        self.assertEqual(rest, expectedRest)
        self.assertEqual(payload, expectedPayload)
        if rest is None:
            self.assertEqual(decoder.pending, expectedPending)


class ReferenceMixin(CodecMixin):
    """
    The decoder agrees with a byte-at-a-time reading of the spec on input
    made mostly of DLE and ETX, however it is split into reads.
    """

    @settings(PER_CODEC, max_examples=500, deadline=None)
    @given(
        st.binary(min_size=0, max_size=64).map(
            lambda b: bytes((0x10, 0x03, 0x41, 0x10)[x % 4] for x in b)
        ),
        st.lists(st.integers(min_value=0, max_value=64), max_size=4),
    )
    def test_matchesReference(self, data: bytes, cuts: List[int]) -> None:
        """
        Payload, rest after a bare ETX, and the pending DLE all match the reference.
        """
        expected, expectedRest, expectedPending = reference(data)
        points = sorted(set(min(c, len(data)) for c in cuts))
        decoder = self.decoder()
        payload = b""
        rest: Optional[bytes] = None
        start = 0
        for end in points + [len(data)]:
            chunk = data[start:end]
            start = end
            if rest is not None:
                rest += chunk
                continue
            got, rest = decoder.feed(chunk)
            payload += got
        self.assertEqual(payload, expected)
        self.assertEqual(rest, expectedRest)
        if rest is None:
            self.assertEqual(decoder.pending, expectedPending)


class PythonStrategyTests(SynchronousTestCase):
    """
    The pure-Python decoder's two strategies, each on its own.
    """

    @settings(max_examples=500, deadline=None)
    @given(
        st.binary(min_size=1, max_size=64).map(
            lambda b: bytes((0x10, 0x03, 0x41, 0x10, 0x42, 0x43)[x % 6] for x in b)
        )
    )
    def test_bothStrategiesMatchReference(self, data: bytes) -> None:
        """
        Splitting at escapes and whole-buffer replacement each decode any input as the reference does.
        """
        expected = reference(data)
        for strategy in (dle._split, dle._replace):
            self.assertEqual(strategy(data), expected, strategy.__name__)


class EncodeTests(EncodeMixin, SynchronousTestCase):
    """
    The pure-Python encoder.
    """


class EncodeCTests(CompiledCodec, EncodeMixin, SynchronousTestCase):
    """
    The compiled encoder.
    """


class DecoderTests(DecoderMixin, SynchronousTestCase):
    """
    The pure-Python decoder.
    """


class DecoderCTests(CompiledCodec, DecoderMixin, SynchronousTestCase):
    """
    The compiled decoder.
    """


class ReferenceTests(ReferenceMixin, SynchronousTestCase):
    """
    The pure-Python decoder against the reference.
    """


class ReferenceCTests(CompiledCodec, ReferenceMixin, SynchronousTestCase):
    """
    The compiled decoder against the reference.
    """


class SelectionTests(SynchronousTestCase):
    """
    Which codec the service uses.
    """

    def inUse(self, **environ: str) -> str:
        env = dict(os.environ)
        env.pop("TCPBRIDGE_NO_ACCEL", None)
        env.update(environ)
        code = "from tcpbridge import dle; print(dle.IMPLEMENTATION)"
        return subprocess.check_output([sys.executable, "-c", code], env=env).decode().strip()

    def test_compiledWhenBuilt(self) -> None:
        """
        The compiled codec is used when it is built and not refused.
        """
        self.assertEqual(self.inUse(), "c" if NO_C is None else "python")
        self.assertEqual(self.inUse(TCPBRIDGE_NO_ACCEL="0"), "c" if NO_C is None else "python")

    def test_refused(self) -> None:
        """
        TCPBRIDGE_NO_ACCEL=1 makes the service use the pure-Python codec.
        """
        self.assertEqual(self.inUse(TCPBRIDGE_NO_ACCEL="1"), "python")

    def test_inUseIsListed(self) -> None:
        """
        The codec in use is one of the implementations, and the module's functions are its own.
        """
        encode, decode = dle.IMPLEMENTATIONS[dle.IMPLEMENTATION]
        self.assertIs(dle.encode, encode)
        self.assertIs(dle.Decoder()._decode, decode)
