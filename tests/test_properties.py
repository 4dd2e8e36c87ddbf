"""
Property tests (hypothesis) for what the host can throw at the serial line
(command mode and data mode): the modem's command-line handling answers every
line and never fails, the AT parser never raises, and the DLE coding loses
and invents no byte, however the stream is cut into reads.
"""

import re
from typing import Any, Dict, List, Optional, Tuple

from hypothesis import event, given, settings
from hypothesis import strategies as st
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from tests.test_dle import PER_CODEC, CodecMixin, CompiledCodec, referenceWithEscapes
from tcpbridge import dle
from tcpbridge.atcommands import Command, ParseError, parseLine
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem

CR = 0x0D
LF = 0x0A
BS = 0x08
ETX = 0x03
DLE = 0x10

#: Every example runs to the end (some make the modem wait for a clock).
PROPERTY = settings(max_examples=200, deadline=None)
#: The same, for the tests that run once per codec.
CODEC_PROPERTY = settings(PER_CODEC, max_examples=200, deadline=None)

#: A result code anywhere in the modem's output: verbose, a numbered
#: error, or numeric (a known code ended by CR alone, not an information
#: line).
RESULT = re.compile(
    rb"\r\n(?:OK|ERROR|Ok_Info_\w+)\r\n"
    rb"|#CME ERROR: \d+\r\n"
    rb"|(?:^|[\r\n])(?:0|4|1028|3074|3086)\r(?!\n)"
)

#: Command names and ways of invoking them, for lines well-formed enough to
#: reach the commands themselves.
NAMES = [
    "E", "V", "Q0", "Z", "&F", "&W", "I", "S3", "S5", "+CMEE", "+CGMI", "+CGMM", "+GMM",
    "+CGMR", "+CGSN", "+IPR", "+IFC", "+ICF", "+CSQ", "+CREG", "+CGREG", "+CPIN", "+CCED",
    "+CGDCONT", "+WOPEN", "+CGATT", "#VVERSION", "#VSTATE", "#VTCP", "#VALL", "#DISPLAYIP",
    "#CONNECTIONSTART", "#CONNECTIONSTOP", "#LTCPSTART", "#LTCPSTOP", "#OTCP", "#TCPSERV",
    "#TCPPORT", "#DLEMODE", "#TCPTXDELAY", "#OUTPORT", "#GPRSMODE", "#APNSERV", "#XYZ", "+XYZ",
]
SUFFIXES = [
    "", "?", "=?", "=", "=0", "=1", "=2", "=13", "=1,0", "=115200", "=127.0.0.1", '="name"',
    '=1,"IP","apn"', "=65536", "=-1", "=1,2,3", '="', " ", "=20", "=1,\"127.0.0.1\"",
]


def lineText() -> st.SearchStrategy[bytes]:
    """
    Command lines: raw bytes, or C{AT} followed by raw bytes, or C{AT}
    followed by commands (mostly well formed) separated by C{;}.
    """
    command = st.tuples(st.sampled_from(NAMES), st.sampled_from(SUFFIXES)).map("".join)
    commands = st.lists(command, max_size=4).map(lambda c: ";".join(c).encode())
    return st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=200).map(lambda b: b"AT" + b),
        st.tuples(st.sampled_from([b"AT", b"at", b"aT", b"At"]), commands).map(b"".join),
    )


def edited(raw: bytes) -> Tuple[bytes, int]:
    """
    The line the modem holds once the host has typed C{raw} in command mode:
    LF ignored, backspace deleting, a bare ETX ignored while idle,
    and C{A/} repeating the previous line (none yet) and starting afresh.

    @return: the line, and how many times C{A/} was typed.
    """
    line = bytearray()
    repeats = 0
    for b in raw:
        if b in (LF, ETX):
            continue
        if b == BS:
            if line:
                line.pop()
            continue
        line.append(b)
        if len(line) == 2 and line.upper() == b"A/":
            line = bytearray()
            repeats += 1
    return bytes(line), repeats


def cut(data: bytes, points: List[int]) -> List[bytes]:
    """
    C{data} cut into reads at C{points} (taken modulo its length, any order).
    """
    if not data:
        return [data]
    edges = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def feedAll(
    chunks: List[bytes], decode: Optional[dle.DecodeFunction] = None
) -> Tuple[bytes, Optional[bytes], dle.Decoder]:
    """
    Feed C{chunks} to a new decoder (using C{decode}) in order, stopping at
    the bare ETX.

    @return: the payload, everything after the bare ETX (the rest of its
        read and every later read; L{None} if there was none), the decoder.
    """
    decoder = dle.Decoder(decode)
    payload = []
    for index, chunk in enumerate(chunks):
        data, rest = decoder.feed(chunk)
        payload.append(data)
        if rest is not None:
            return b"".join(payload), rest + b"".join(chunks[index + 1 :]), decoder
    return b"".join(payload), None, decoder


class ModemLineTests(SynchronousTestCase):
    """
    Whatever line the host types in command mode, the modem answers it and
    keeps its serial line.
    """

    def setUp(self) -> None:
        self.failures: List[Dict[str, Any]] = []

        def observe(event: Dict[str, Any]) -> None:
            if "log_failure" in event:
                self.failures.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    def modem(self) -> Tuple[Modem, StringTransport, MemoryReactorClock]:
        """
        A fresh modem with echo off, on a memory reactor.
        """
        reactor = MemoryReactorClock()
        modem = Modem(BridgeConfig(connect_timeout=5.0, interface="127.0.0.1"), reactor)
        transport = StringTransport()
        modem.makeConnection(transport)
        modem.dataReceived(b"ATE0\r")
        self.assertEqual(transport.value(), b"ATE0\r\r\nOK\r\n")
        transport.clear()
        return modem, transport, reactor

    def type(self, modem: Modem, reactor: MemoryReactorClock, data: bytes) -> None:
        """
        The host sends C{data}; then let any time-out the modem started run out.
        """
        failed = len(self.failures)
        modem.dataReceived(data)
        reactor.advance(60)
        self.assertEqual(self.failures[failed:], [], "a command failed with an exception")

    @PROPERTY
    @given(raw=lineText())
    def test_everyLineAnswered(self, raw: bytes) -> None:
        """
        A line that is not blank gets at least one result code or error, and an empty line gets
        nothing.
        """
        raw = raw.replace(b"\r", b"")
        modem, transport, reactor = self.modem()
        self.type(modem, reactor, raw + b"\r")
        out = transport.value()
        self.assertFalse(transport.disconnecting, "the serial line was closed")
        line, repeats = edited(raw)
        answers = len(RESULT.findall(out))
        if repeats:
            # Each A/ repeated the previous line (ATE0) at once.
            event("repeated")
        if not line:
            event("empty")
            self.assertEqual(out, b"\r\nOK\r\n" * repeats)
        elif not line.decode("latin-1").strip():
            event("blank")
        elif modem.quiet:
            event("quiet")
        else:
            event("answered")
            self.assertGreater(answers, repeats, "no result code for %r: %r" % (line, out))

    @PROPERTY
    @given(noise=st.binary(max_size=2000))
    def test_noiseNeverStopsModem(self, noise: bytes) -> None:
        """
        Any bytes at all, then a CR: the modem raises nothing, keeps the line, and answers the next
        AT.
        """
        modem, transport, reactor = self.modem()
        self.type(modem, reactor, noise + b"\r")
        self.assertFalse(transport.disconnecting, "the serial line was closed")
        self.assertIs(modem.transport, transport)
        transport.clear()
        s3 = bytes([modem.s3])
        if modem.quiet or modem.s5 in b"ATat" or modem.s3 in b"ATat":
            event("settings changed beyond a plain AT")
            return
        # End whatever line is open, then a plain AT.
        self.type(modem, reactor, s3 + b"AT" + s3)
        out = transport.value()
        self.assertTrue(
            out.endswith(b"\r\nOK\r\n" if modem.verbose else b"0\r"), "answer to AT: %r" % (out,)
        )

    @PROPERTY
    @given(line=st.one_of(st.text(), st.text().map(lambda t: "AT" + t)))
    def test_parseLineNeverRaises(self, line: str) -> None:
        """
        Any text parses into commands and at most a syntax error, never an exception.
        """
        commands, error = parseLine(line)
        self.assertIsInstance(commands, list)
        for command in commands:
            self.assertIsInstance(command, Command)
            self.assertIsInstance(command.args, tuple)
        if error is not None:
            self.assertIsInstance(error, ParseError)


class DLEPropertyMixin(CodecMixin):
    """
    DLE coding keeps every byte, whatever the data and however the host's
    stream is cut into reads.
    """

    @CODEC_PROPERTY
    @given(data=st.binary(max_size=3000), points=st.lists(st.integers(0, 4000), max_size=20))
    def test_roundTrip(self, data: bytes, points: List[int]) -> None:
        """
        Encoding then decoding, in any chunking, gives the data back with no close and nothing
        left waiting.
        """
        payload, rest, decoder = feedAll(cut(self.encode(data), points), self.decode)
        self.assertEqual(payload, data)
        self.assertIsNone(rest)
        self.assertFalse(decoder.pending)
        self.assertEqual(decoder.flush(), b"")

    @CODEC_PROPERTY
    @given(
        data=st.binary(max_size=1000),
        tail=st.binary(max_size=100),
        points=st.lists(st.integers(0, 2000), max_size=20),
    )
    def test_roundTripThenClose(self, data: bytes, tail: bytes, points: List[int]) -> None:
        """
        Encoded data, a bare ETX and anything after it, in any chunking: the data is the payload
        and everything after the ETX is the rest.
        """
        payload, rest, decoder = feedAll(cut(self.encode(data) + b"\x03" + tail, points), self.decode)
        self.assertEqual(payload, data)
        self.assertEqual(rest, tail)

    @CODEC_PROPERTY
    @given(
        stream=st.lists(st.sampled_from([0x10, 0x03, 0x41, 0x00, 0xFF]), max_size=300).map(bytes)
        | st.binary(max_size=300),
        points=st.lists(st.integers(0, 400), max_size=20),
    )
    def test_decodeLosesNothing(self, stream: bytes, points: List[int]) -> None:
        """
        Any host stream, in any chunking: every byte is payload, an escaping DLE, the closing ETX,
        rest, or a DLE still waiting, and the payload is as decoding one byte at a time gives.
        """
        payload, rest, decoder = feedAll(cut(stream, points), self.decode)
        waiting = decoder.flush() if rest is None else b""
        expected, expectedRest, escapes, pending = referenceWithEscapes(stream)
        self.assertEqual(payload, expected)
        self.assertEqual(rest, expectedRest)
        self.assertEqual(waiting, b"\x10" if pending else b"")
        closing = 0 if rest is None else 1 + len(rest)
        self.assertEqual(len(payload) + escapes + closing + len(waiting), len(stream))

    @CODEC_PROPERTY
    @given(
        data=st.binary(min_size=1000, max_size=20000),
        escapes=st.lists(st.integers(0, 20000), max_size=40),
        points=st.lists(st.integers(0, 25000), max_size=8),
    )
    def test_largeReads(self, data: bytes, escapes: List[int], points: List[int]) -> None:
        """
        Reads the size the serial line gives, mostly plain bytes with a few DLEs and ETXs
        anywhere, decode as decoding one byte at a time does.
        """
        stream = bytearray(data)
        for i, at in enumerate(escapes):
            stream[at % len(stream)] = (DLE, ETX)[i % 2]
        stream = bytes(stream)
        payload, rest, decoder = feedAll(cut(stream, points), self.decode)
        expected, expectedRest, escaped, pending = referenceWithEscapes(stream)
        self.assertEqual((payload, rest), (expected, expectedRest))
        if rest is None:
            self.assertEqual(decoder.pending, pending)


class DLEPropertyTests(DLEPropertyMixin, SynchronousTestCase):
    """
    The pure-Python codec.
    """


class DLEPropertyCTests(CompiledCodec, DLEPropertyMixin, SynchronousTestCase):
    """
    The compiled codec.
    """
