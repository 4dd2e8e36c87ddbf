"""
Tests for L{tcpbridge.commandline}: how lines end (C{line_end}), through
the modem on a string transport.
"""

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.config import BridgeConfig, ConfigError, parseConfig
from tcpbridge.modem import Modem
from tests.modemside import SerialSide

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"


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
