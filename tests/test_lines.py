"""
Tests for L{tcpbridge.services.lines}: C{AT&D} and C{AT&C} on a fake
serial port whose DSR and DCD a test changes, on a memory reactor.
"""

import json
import os
from typing import Any

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.config import BridgeConfig, ConfigError, parseConfig
from tcpbridge.modem import Modem
from tcpbridge.registry import CLOSING, CONNECTING, DATA, IDLE, Service
from tcpbridge.services.lines import POLL
from tests.modemside import SerialSide

OK = b"\r\nOK\r\n"


class FakeSerial:
    """
    The lines of a pyserial port: inputs a test sets, outputs it reads.
    """

    baudrate, bytesize, parity, stopbits, rtscts, xonxoff = 115200, 8, "N", 1, False, False

    def __init__(self) -> None:
        self.dsr = True
        self.cd = True
        self.dtr = False
        self.rts = False


class SerialTransport(StringTransport):
    """
    A serial transport with a pyserial port under it, as Twisted's
    C{SerialPort} has.
    """

    def __init__(self) -> None:
        StringTransport.__init__(self)
        self._serial = FakeSerial()


class _Opener(Service):
    """
    Stands for a service that has opened a connection.
    """

    name = "opener"
    cancelled = ""

    def cancel(self, why: str) -> None:
        self.cancelled = why


class LinesTests(SerialSide, SynchronousTestCase):
    """
    The host's DTR ends sessions after AT&D1 and AT&D2, not after AT&D0; the host's DCD follows
    AT&C.
    """

    def makeModem(self, transport: Any = None, **config: Any) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(**config), self.reactor)
        self.transport = SerialTransport() if transport is None else transport
        self.modem.makeConnection(self.transport)
        self.command(b"ATE0")

    def openSession(self) -> StringTransport:
        """
        Put the modem in a data-mode session with a string-transport peer.
        """
        peer = StringTransport()
        self.modem.claim(_Opener(self.modem), 1, CONNECTING)
        self.modem.openSession(peer, True, 0, "peer")
        self.written()
        return peer

    def dropDTR(self, line: str) -> None:
        setattr(self.transport._serial, line, False)
        self.reactor.advance(POLL)

    def test_dtrIgnored(self) -> None:
        """
        After AT&D0 a DTR drop changes nothing.
        """
        for line, wire in (("dsr", "dsr"), ("dcd", "cd")):
            self.makeModem(dtr_input=line)
            self.assertEqual(self.command(b"AT&D0"), OK)
            peer = self.openSession()
            self.dropDTR(wire)
            self.assertEqual(self.modem.state, DATA)
            self.assertFalse(peer.disconnecting)

    def test_dtrEndsSession(self) -> None:
        """
        After AT&D1 or AT&D2 a DTR drop, on the wire dtr_input names, ends the session as the
        host's ETX does: the peer gets its FIN and the line is closing.
        """
        for mode in (b"AT&D1", b"AT&D2"):
            for line, wire, other in (("dsr", "dsr", "cd"), ("dcd", "cd", "dsr")):
                self.makeModem(dtr_input=line)
                self.assertEqual(self.command(mode), OK)
                peer = self.openSession()
                self.dropDTR(other)
                self.assertEqual(self.modem.state, DATA, "the other wire dropped")
                self.dropDTR(wire)
                self.assertEqual(self.modem.state, CLOSING, (mode, line))
                self.assertTrue(peer.disconnecting)

    def test_dtrWhileIdle(self) -> None:
        """
        A DTR drop in command mode, or one that was already low, ends nothing.
        """
        self.makeModem(dtr_input="dsr")
        self.dropDTR("dsr")
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.command(b"AT"), OK)
        peer = self.openSession()
        self.reactor.advance(POLL)
        self.assertEqual(self.modem.state, DATA)
        self.assertFalse(peer.disconnecting)

    def test_dtrCancelsOpening(self) -> None:
        """
        A DTR drop while a connection is being opened cancels it, as the host's ETX does.
        """
        self.makeModem(dtr_input="dsr")
        opener = _Opener(self.modem)
        self.modem.claim(opener, 1, CONNECTING)
        self.dropDTR("dsr")
        self.assertEqual(opener.cancelled, "cancelled by the host")

    def test_defaultIsD2(self) -> None:
        """
        The factory value is AT&D2: a drop ends the session.
        """
        self.makeModem(dtr_input="dsr")
        self.openSession()
        self.dropDTR("dsr")
        self.assertEqual(self.modem.state, CLOSING)

    def test_noDtrInput(self) -> None:
        """
        With dtr_input = none the inputs are not read.
        """
        self.makeModem()
        self.openSession()
        self.dropDTR("dsr")
        self.dropDTR("cd")
        self.assertEqual(self.modem.state, DATA)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_dcdAlwaysOn(self) -> None:
        """
        After AT&C0 the host's DCD (dcd_output's wire) is on, session or not.
        """
        for output in ("dtr", "rts"):
            self.makeModem(dcd_output=output)
            self.assertEqual(self.command(b"AT&C0"), OK)
            self.assertTrue(getattr(self.transport._serial, output))
            self.openSession()
            self.reactor.advance(POLL)
            self.assertTrue(getattr(self.transport._serial, output))

    def test_dcdFollowsSession(self) -> None:
        """
        After AT&C1 (the factory value) DCD is off in command mode, on while a session is open,
        off again after it.
        """
        for output, other in (("dtr", "rts"), ("rts", "dtr")):
            self.makeModem(dcd_output=output)
            port = self.transport._serial
            self.assertFalse(getattr(port, output))
            self.assertEqual(self.command(b"AT&C1"), OK)
            self.assertFalse(getattr(port, output))
            peer = self.openSession()
            self.reactor.advance(POLL)
            self.assertTrue(getattr(port, output))
            self.assertFalse(getattr(port, other))
            self.modem.session.peerLost(None, None)
            self.reactor.advance(POLL)
            self.assertFalse(getattr(port, output))

    def test_badValues(self) -> None:
        """
        AT&D3 and AT&C2 are refused; AT&D and AT&C alone mean 0.
        """
        self.makeModem(dtr_input="dsr")
        self.assertEqual(self.command(b"AT&D3"), b"\r\nERROR\r\n")
        self.assertEqual(self.command(b"AT&C2"), b"\r\nERROR\r\n")
        self.assertEqual(self.command(b"AT&D"), OK)
        self.openSession()
        self.dropDTR("dsr")
        self.assertEqual(self.modem.state, DATA)

    def test_savedWithW(self) -> None:
        """
        AT&W saves AT&D and AT&C in the profile; ATZ restores them, AT&F returns to &D2 &C1.
        """
        path = os.path.join(os.path.abspath(self.mktemp()))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.makeModem(profile=path)
        lines = self.modem.services["lines"]
        self.assertEqual(self.command(b"AT&D0&C0&W"), OK)
        with open(path) as f:
            self.assertIn('"ampd": 0', f.read())
        self.assertEqual(self.command(b"AT&D1&C1"), OK)
        self.assertEqual(self.command(b"ATZ"), OK)
        self.assertEqual((lines.dtrMode, lines.dcdMode), (0, 0))
        self.assertEqual(self.command(b"AT&F"), OK)
        self.assertEqual((lines.dtrMode, lines.dcdMode), (2, 1))

    def test_pty(self) -> None:
        """
        On a pty (no lines) the values are remembered only, and nothing is polled.
        """
        self.makeModem(StringTransport(), dtr_input="dsr", dcd_output="dtr")
        self.assertEqual(self.command(b"AT&D1&C0"), OK)
        lines = self.modem.services["lines"]
        self.assertEqual((lines.dtrMode, lines.dcdMode), (1, 0))
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_pollStops(self) -> None:
        """
        The polling stops when the serial line is lost.
        """
        self.makeModem(dtr_input="dsr")
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        self.modem.connectionLost(None)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_config(self) -> None:
        """
        The wires are named in the .ini; rts cannot be DCD when it is the flow control's.
        """
        [bridge] = parseConfig("[bridge:a]\ndevice = pty:/tmp/a\ndtr_input = DCD\ndcd_output = rts\n")
        self.assertEqual((bridge.dtr_input, bridge.dcd_output), ("dcd", "rts"))
        e = self.assertRaises(
            ConfigError, parseConfig,
            "[bridge:a]\ndevice = pty:/tmp/a\ndcd_output = rts\nflowcontrol = rtscts\n", "f.ini",
        )
        self.assertEqual(
            str(e), "f.ini: [bridge:a] dcd_output: rts is the flow control's line (flowcontrol = rtscts)"
        )
