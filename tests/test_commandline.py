"""
Tests for L{tcpbridge.commandline}: how lines end (C{line_end}), and the
hand-over of the host's input: the LF of a CR LF that ended a command
opening data mode belongs to the command line and never reaches the peer,
whichever service opened the session.
"""

from typing import List

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge import registry
from tcpbridge.atcommands import Command
from tcpbridge.commandline import LF_GRACE
from tcpbridge.config import BridgeConfig, ConfigError, parseConfig
from tcpbridge.modem import Modem
from tcpbridge.registry import CONNECTING, LISTENING, CommandSpec, Service
from tcpbridge.results import FINAL
from tests.modemside import SerialSide
from tests.test_registry import Toy

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
WAITING = b"\r\nOk_Info_WaitingForData\r\n"


class Dial(Service):
    """
    A service whose C{AT#DIAL} opens its session later, as dialling does.
    """

    name = "dial"
    commands = {"#DIAL": CommandSpec("dial", "a")}
    opening: List[Deferred] = []

    def dial(self, command: Command) -> Deferred:
        self.modem.claim(self, 1, CONNECTING)
        d: Deferred = Deferred()
        self.opening.append(d)
        return d


class HandOverTests(SerialSide, SynchronousTestCase):
    """
    An LF right after the CR of a command that opened data mode is dropped;
    any other byte, and an LF at any other time, is data.
    """

    def setUp(self) -> None:
        for service in (Toy, Dial):
            registry.register(service)
            self.addCleanup(registry.unregister, service)
        Toy.peers, Dial.opening = [], []
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        # This host ends its lines with CR LF.
        self.send(b"ATE0\r\n")
        self.written()

    def peer(self) -> StringTransport:
        [peer] = Toy.peers
        return peer

    def test_sameRead(self) -> None:
        """
        CR LF and data in one read: the data reaches the peer without the LF.
        """
        self.assertEqual(self.send(b"AT#TOY\r\nabc"), WAITING)
        self.assertEqual(self.peer().value(), b"abc")

    def test_laterRead(self) -> None:
        """
        The LF in a read of its own just after the session opened is still dropped.
        """
        self.send(b"AT#TOY\r")
        self.reactor.advance(LF_GRACE / 2)
        self.send(b"\n")
        self.send(b"\nabc")
        self.assertEqual(self.peer().value(), b"\nabc")

    def test_afterGrace(self) -> None:
        """
        An LF that comes well after the session opened is the host's data.
        """
        self.send(b"AT#TOY\r")
        self.reactor.advance(LF_GRACE * 2)
        self.send(b"\nabc")
        self.assertEqual(self.peer().value(), b"\nabc")

    def test_crOnly(self) -> None:
        """
        With CR line endings, nothing of the data is dropped, its LFs included.
        """
        self.send(b"AT#TOY\rx\n")
        self.assertEqual(self.peer().value(), b"x\n")

    def test_heldWhileOpening(self) -> None:
        """
        An LF held while the session is being opened is dropped; the bytes after it reach the peer.
        """
        self.assertEqual(self.send(b"AT#DIAL\r\nfirst"), b"")
        peer = StringTransport()
        self.modem.openSession(peer, False, 0, "dialled")
        Dial.opening[0].callback(FINAL)
        self.assertEqual(self.written(), WAITING)
        self.assertEqual(peer.value(), b"first")

    def test_notOpenedByTheCommand(self) -> None:
        """
        A session that opens later, while listening, takes a first LF as data.
        """
        self.send(b"AT\r")
        self.modem.claim(self.modem.services["toy"], 1, LISTENING)
        peer = StringTransport()
        self.modem.openSession(peer, False, 0, "listened")
        self.send(b"\nabc")
        self.assertEqual(peer.value(), b"\nabc")

    def test_crOnlyHostKeepsLF(self) -> None:
        """
        A host whose lines end with a CR alone sends no LF after it: data
        that starts with an LF, sent at once, reaches the peer whole.
        """
        self.send(b"AT\r")
        self.written()
        self.send(b"AT#TOY\r")
        self.send(b"\nbinary")
        self.assertEqual(self.peer().value(), b"\nbinary")

    def test_unknownHostTimed(self) -> None:
        """
        Before any line has shown how the host ends them, an LF right
        after the data command's CR is taken as its CR LF.
        """
        self.modem.endsWithLF = None
        self.send(b"AT#TOY\r")
        self.send(b"\nabc")
        self.assertEqual(self.peer().value(), b"abc")


class LineEndTests(SerialSide, SynchronousTestCase):
    """
    C{line_end = cr} (V.250) and C{cr-or-lf} (hosts that end lines with LF).
    """

    def makeModem(self, lineEnd: str) -> None:
        self.modem = Modem(BridgeConfig(line_end=lineEnd), MemoryReactorClock())
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.command(b"ATE0")

    def test_crOnly(self) -> None:
        """
        By default an LF alone ends nothing: the line goes on until CR.
        """
        self.makeModem("cr")
        self.assertEqual(self.send(b"AT\nE0\n"), b"")
        self.assertEqual(self.send(b"\r"), OK)

    def test_lf(self) -> None:
        """
        With cr-or-lf, LF alone ends a line.
        """
        self.makeModem("cr-or-lf")
        self.assertEqual(self.send(b"AT\n"), OK)
        self.assertEqual(self.send(b"AT+NOSUCH\nAT\n"), ERROR + OK)

    def test_crlfIsOneLine(self) -> None:
        """
        CR LF ends one line, not two, even split between two reads; LF LF is an empty line.
        """
        self.makeModem("cr-or-lf")
        self.assertEqual(self.send(b"AT\r\nAT\r\n"), OK + OK)
        self.assertEqual(self.send(b"AT\r"), OK)
        self.assertEqual(self.send(b"\nAT\n\n"), OK)
        self.assertEqual(self.send(b"AT\r"), OK)

    def test_crCr(self) -> None:
        """
        Mixed endings: LF CR is two endings of which the second is an empty line.
        """
        self.makeModem("cr-or-lf")
        self.assertEqual(self.send(b"AT\n\rAT\r"), OK + OK)

    def test_echo(self) -> None:
        """
        With echo on, the LF that ends a line is echoed like the CR would be.
        """
        self.makeModem("cr-or-lf")
        self.command(b"ATE1")
        self.assertEqual(self.send(b"AT\n"), b"AT\n" + OK)

    def test_config(self) -> None:
        """
        line_end is cr or cr-or-lf, nothing else.
        """
        [bridge] = parseConfig("[bridge:a]\ndevice = pty:/tmp/a\nline_end = CR-or-LF\n")
        self.assertEqual(bridge.line_end, "cr-or-lf")
        e = self.assertRaises(
            ConfigError, parseConfig, "[bridge:a]\ndevice = pty:/tmp/a\nline_end = lf\n", "f.ini"
        )
        self.assertEqual(str(e), "f.ini: [bridge:a] line_end: 'lf' is not one of cr, cr-or-lf")
