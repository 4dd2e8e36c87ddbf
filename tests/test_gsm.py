"""
Tests for L{tcpbridge.services.gsm}'s network state and the unsolicited
result codes that report it, and for the line discipline's rule that an
unsolicited code never falls inside an answer or a data-mode session.
"""

from typing import Any, List, Optional

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge import registry
from tcpbridge.atcommands import Command
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem
from tcpbridge.registry import CommandSpec, Service
from tests.modemside import SerialSide
from tests.test_registry import Toy

OK = b"\r\nOK\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n"


def line(text: bytes) -> bytes:
    """
    An information line or unsolicited code, framed as with C{ATV1}.
    """
    return b"\r\n" + text + b"\r\n"


class Slow(Service):
    """
    A service whose C{AT#SLOW} answers when the test fires its Deferred.
    """

    name = "slow"
    commands = {"#SLOW": CommandSpec("slow", "a")}
    waiting: List[Deferred] = []

    def slow(self, command: Command) -> Deferred:
        d: Deferred = Deferred()
        self.waiting.append(d)
        return d


class ModemCase(SerialSide, SynchronousTestCase):
    """
    A modem on a string transport, echo off.
    """

    def makeModem(self, wind: Optional[int] = None, **config: Any) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(**config), self.reactor)
        if wind is not None:
            self.modem.profile.set("+WIND", str(wind))
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)

    def setUp(self) -> None:
        self.makeModem()
        self.command(b"ATE0")

    def unsolicited(self, text: str) -> None:
        self.modem.unsolicited(text)


class UnsolicitedTests(ModemCase):
    """
    When the line discipline sends an unsolicited code: at once in command
    mode, else once the line is free.
    """

    def test_atOnceWhenIdle(self) -> None:
        """
        In command mode with no command running, an unsolicited code goes out at once.
        """
        self.unsolicited("+CREG: 5")
        self.assertEqual(self.written(), line(b"+CREG: 5"))

    def test_afterTheAnswer(self) -> None:
        """
        A code raised by a command of a line comes after the line's final result, never between
        two commands' answers.
        """
        self.command(b"AT+CGREG=1")
        self.assertEqual(
            self.command(b"AT+CGATT=1;+CSQ"),
            line(b"+CSQ: 20,0") + OK + line(b"+CGREG: 1"),
        )

    def test_whileCommandWaits(self) -> None:
        """
        While a command waits for its answer, codes are held; they follow its OK.
        """
        registry.register(Slow)
        self.addCleanup(registry.unregister, Slow)
        Slow.waiting = []
        self.makeModem()
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#SLOW"), b"")
        self.unsolicited("+WIND: 4")
        self.assertEqual(self.written(), b"")
        Slow.waiting[0].callback(None)
        self.assertEqual(self.written(), OK + line(b"+WIND: 4"))

    def toySession(self) -> None:
        """
        A fresh modem in a data-mode session with the registry's toy service.
        """
        registry.register(Toy)
        self.addCleanup(registry.unregister, Toy)
        Toy.peers = []
        self.makeModem()
        self.command(b"ATE0")
        self.command(b"AT#TOY")

    def test_heldDuringDataMode(self) -> None:
        """
        A code raised during a data-mode session never reaches the host inside the data; it comes
        after the session's final result.
        """
        self.toySession()
        self.unsolicited("+CREG: 5")
        session = self.modem.session
        session.peerData(b"data")
        self.assertEqual(self.written(), b"data")
        session.peerLost(None, Failure(ConnectionDone()))
        self.assertEqual(self.written(), b"\x03" + CLOSED + OK + line(b"+CREG: 5"))

    def test_heldWhileClosing(self) -> None:
        """
        A code raised while the host's close is in progress waits for the close's final result.
        """
        self.toySession()
        self.send(b"\x03")
        self.unsolicited("+CGREG: 0")
        self.assertEqual(self.written(), b"")
        self.modem.session.peerLost(None, Failure(ConnectionDone()))
        self.assertEqual(self.written(), CLOSED + OK + line(b"+CGREG: 0"))

    def test_numeric(self) -> None:
        """
        With ATV0 a code ends in CR LF like an information line.
        """
        self.command(b"ATV0")
        self.command(b"AT+CREG=1")
        self.assertEqual(self.command(b"AT+CFUN=0"), b"0\r+CREG: 0\r\n")

    def test_quiet(self) -> None:
        """
        ATQ1 suppresses unsolicited codes with the other result codes.
        """
        self.command(b"AT+CGREG=1")
        self.command(b"ATQ1")
        self.assertEqual(self.command(b"AT+CGATT=1"), b"")
        self.assertEqual(self.written(), b"")


class RegistrationTests(ModemCase):
    """
    The registration and attach states, and their codes in every mode.
    """

    def test_powerOn(self) -> None:
        """
        At power-on the modem is registered and GPRS is detached.
        """
        self.assertEqual(self.command(b"AT+CREG?"), line(b"+CREG: 0,1") + OK)
        self.assertEqual(self.command(b"AT+CGREG?"), line(b"+CGREG: 0,0") + OK)
        self.assertEqual(self.command(b"AT+CGATT?"), line(b"+CGATT: 0") + OK)
        self.assertEqual(self.command(b"AT+CFUN?"), line(b"+CFUN: 1") + OK)

    def test_attachDisabled(self) -> None:
        """
        With AT+CGREG=0 (the default), attaching and detaching answer OK alone.
        """
        self.assertEqual(self.command(b"AT+CGATT=1"), OK)
        self.assertEqual(self.command(b"AT+CGATT?"), line(b"+CGATT: 1") + OK)
        self.assertEqual(self.command(b"AT+CGATT=0"), OK)

    def test_attachEnabled(self) -> None:
        """
        With AT+CGREG=1 or 2, each change of the attach state is reported after the OK; no change,
        no report.
        """
        for mode in (b"1", b"2"):
            self.command(b"AT+CGREG=" + mode)
            self.assertEqual(self.command(b"AT+CGATT=1"), OK + line(b"+CGREG: 1"), mode)
            self.assertEqual(self.command(b"AT+CGATT=1"), OK, mode)
            self.assertEqual(self.command(b"AT+CGATT=0"), OK + line(b"+CGREG: 0"), mode)

    def test_roaming(self) -> None:
        """
        The state reported is the configured registration (5, roaming).
        """
        self.makeModem(registration=5)
        self.command(b"AT+CGREG=1")
        self.assertEqual(self.command(b"AT+CGATT=1"), b"AT+CGATT=1\r" + OK + line(b"+CGREG: 5"))

    def test_radioOff(self) -> None:
        """
        AT+CFUN=0 deregisters and detaches (each reported if enabled); attaching is then refused.
        """
        self.command(b"AT+CMEE=1")
        self.command(b"AT+CREG=1")
        self.command(b"AT+CGREG=1")
        self.command(b"AT+CGATT=1")
        self.assertEqual(
            self.command(b"AT+CFUN=0"), OK + line(b"+CREG: 0") + line(b"+CGREG: 0")
        )
        self.assertEqual(self.command(b"AT+CFUN?"), line(b"+CFUN: 0") + OK)
        self.assertEqual(self.command(b"AT+CGATT=1"), line(b"#CME ERROR: 3"))
        self.assertEqual(self.command(b"AT+CREG?"), line(b"+CREG: 1,0") + OK)

    def test_cpof(self) -> None:
        """
        AT+CPOF turns the radio off like AT+CFUN=0.
        """
        self.command(b"AT+CREG=2")
        self.assertEqual(self.command(b"AT+CPOF"), OK + line(b"+CREG: 0"))

    def test_badValues(self) -> None:
        """
        Values out of range change nothing and answer 34882.
        """
        self.command(b"AT+CMEE=1")
        self.assertEqual(self.command(b"AT+CFUN=2"), line(b"#CME ERROR: 34882"))
        self.assertEqual(self.command(b"AT+CGATT=2"), line(b"#CME ERROR: 34882"))
        self.assertEqual(self.command(b"AT+CGATT"), line(b"#CME ERROR: 34819"))

    def test_connectionStartAttaches(self) -> None:
        """
        AT#CONNECTIONSTART attaches first; the +CGREG code follows its answer.
        """
        self.command(b"AT+CGREG=1")
        self.assertEqual(
            self.command(b"AT#CONNECTIONSTART"),
            line(b"Ok_Info_GprsActivation") + line(b"0.0.0.0") + line(b"+CGREG: 1"),
        )


    def test_ipServiceAttaches(self) -> None:
        """
        Starting an IP service (here AT#LTCPSTART) attaches GPRS first; the
        +CGREG code follows its answer, and AT+CGATT? then reads 1.
        """
        self.command(b"AT+CGREG=1")
        self.command(b"AT#TCPPORT=2323")
        self.assertEqual(self.command(b"AT#LTCPSTART"), OK + line(b"+CGREG: 1"))
        self.assertEqual(self.command(b"AT+CGATT?"), line(b"+CGATT: 1") + OK)

class StartTests(ModemCase):
    """
    The start-up indications: when the line opens and after C{AT+CFUN=1}.
    """

    def test_silentByDefault(self) -> None:
        """
        With the factory mask 0 and AT+CREG=0, the modem says nothing unasked at start.
        """
        self.makeModem()
        self.assertEqual(self.written(), b"")

    def test_mask(self) -> None:
        """
        The mask's bits enable the start-up indications in the order a modem sends them.
        """
        for mask, events in [
            (8, [b"4"]),
            (255, [b"1", b"3", b"7", b"4"]),
            (0x4000 | 8 | 1, [b"1", b"4", b"16"]),
        ]:
            self.makeModem(wind=mask)
            self.assertEqual(
                self.written(), b"".join(line(b"+WIND: " + e) for e in events), mask
            )

    def test_cregAtStart(self) -> None:
        """
        A saved AT+CREG=1 gives +CREG: 1 at start, after the indications.
        """
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(), self.reactor)
        self.modem.profile.set("+WIND", "8")
        self.modem.profile.set("+CREG", "1")
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.assertEqual(self.written(), line(b"+WIND: 4") + line(b"+CREG: 1"))

    def test_cfun(self) -> None:
        """
        AT+CFUN=1 answers OK, then the indications its mask enables; GPRS is detached again.
        """
        self.command(b"AT+WIND=?")
        self.assertEqual(self.command(b"AT+WIND=8"), OK)
        self.assertEqual(self.command(b"AT+WIND?"), line(b"+WIND: 8") + OK)
        self.command(b"AT+CGATT=1")
        self.assertEqual(self.command(b"AT+CFUN=1"), OK + line(b"+WIND: 4"))
        self.assertEqual(self.command(b"AT+CGATT?"), b"AT+CGATT?\r" + line(b"+CGATT: 0") + OK)

    def test_cfunSettings(self) -> None:
        """
        AT+CFUN=1 restores the settings AT&W saved (echo on here, since only the factory ones
        were) and keeps the parameters.
        """
        self.command(b"AT+CREG=1")
        self.command(b"AT#TCPPORT=2323")
        self.assertEqual(self.command(b"AT+CFUN=1"), OK + line(b"+CREG: 1"))
        self.assertEqual(self.command(b"AT+CREG?"), b"AT+CREG?\r" + line(b"+CREG: 1,1") + OK)
        self.assertEqual(
            self.command(b"AT#TCPPORT?"), b"AT#TCPPORT?\r" + line(b"#TCPPORT: 2323") + OK
        )

    def test_cfunWhileListening(self) -> None:
        """
        AT+CFUN=1 is refused (37123) while a service runs.
        """
        self.command(b"AT+CMEE=1")
        self.command(b"AT#TCPPORT=2323")
        self.assertEqual(self.command(b"AT#LTCPSTART"), OK)
        self.assertEqual(self.command(b"AT+CFUN=1"), line(b"#CME ERROR: 37123"))


#: Each tail command, the configuration it is answered from, and the lines
#: it answers before its OK.
TAIL = [
    (b"AT+CNUM", {}, []),
    (b"AT+CNUM", {"own_number": "+447700900123"}, [b'+CNUM: "","+447700900123",145']),
    (b"AT+CNUM", {"own_number": "07700900123"}, [b'+CNUM: "","07700900123",129']),
    (b"AT+CNUM=?", {}, []),
    (b"AT+CIMI", {}, [b"001010000000000"]),
    (b"AT+CIMI", {"imsi": "208011234567890"}, [b"208011234567890"]),
    (b"AT+CCID", {"iccid": "89330123456789012345"}, [b'+CCID: "89330123456789012345"']),
    (b"AT+CCID?", {}, [b'+CCID: "8900101000000000000"']),
    (b"AT+COPS?", {"operator": "Orange F"}, [b'+COPS: 0,0,"Orange F"']),
    (b"AT+COPS=0", {}, []),
    (b"AT+COPS=?", {}, [b'+COPS: (2,"tcpbridge","tcpbridge","00101"),,(0-4),(0-2)']),
    (b"AT+CFUN?", {}, [b"+CFUN: 1"]),
    (b"AT+CFUN=?", {}, [b"+CFUN: (0-1)"]),
    (b"AT+CPIN=8189", {}, []),
    (b'AT+CPIN="1234"', {}, []),
    (b"AT+CPIN?", {}, [b"+CPIN: READY"]),
    (b"AT+CGATT=?", {}, [b"+CGATT: (0-1)"]),
    (b"AT+WIND=?", {}, [b"+WIND: (0-65535)"]),
    (b"AT+CCLK=?", {}, [b'+CCLK: "yy/MM/dd,hh:mm:ss+zz"']),
    (b'AT+CCLK="26/01/01,00:00:00+00"', {}, []),
] + [(b"ATI%d" % (n,), {}, [b"tcpbridge Wavecom-compatible TCP bridge"]) for n in range(10)]


class TailTests(ModemCase):
    """
    The GSM 07.07 / V.25ter tail answers as a healthy modem, from the
    C{.ini} where a value identifies the modem or the SIM, in both result
    code modes.
    """

    def test_verbose(self) -> None:
        """
        With ATV1 each command answers its lines framed in CR LF, then OK.
        """
        for command, config, lines in TAIL:
            self.makeModem(**config)
            self.command(b"ATE0")
            self.assertEqual(
                self.command(command), b"".join(line(l) for l in lines) + OK, command
            )

    def test_numeric(self) -> None:
        """
        With ATV0 each command answers its lines ended in CR LF, then 0 CR.
        """
        for command, config, lines in TAIL:
            self.makeModem(**config)
            self.command(b"ATE0V0")
            self.assertEqual(
                self.command(command), b"".join(l + b"\r\n" for l in lines) + b"0\r", command
            )

    def test_clock(self) -> None:
        """
        AT+CCLK? shows the box's clock in local time with the offset in quarters of an hour.
        """
        import time

        self.reactor.advance(1767225600)  # 2026-01-01 00:00:00 UTC
        now = time.localtime(self.reactor.seconds())
        quarters = now.tm_gmtoff // 900
        expected = '+CCLK: "%s%s%02d"' % (
            time.strftime("%y/%m/%d,%H:%M:%S", now), "-" if quarters < 0 else "+", abs(quarters)
        )
        self.assertEqual(self.command(b"AT+CCLK?"), line(expected.encode()) + OK)
        self.assertRegex(expected, r'^\+CCLK: "\d\d/\d\d/\d\d,\d\d:\d\d:\d\d[+-]\d\d"$')

    def test_operatorRadioOff(self) -> None:
        """
        With the radio off, AT+COPS? names no operator.
        """
        self.command(b"AT+CFUN=0")
        self.assertEqual(self.command(b"AT+COPS?"), line(b"+COPS: 0") + OK)

    def test_badOperatorMode(self) -> None:
        """
        AT+COPS with a mode other than 0 to 4 answers 34882.
        """
        self.command(b"AT+CMEE=1")
        self.assertEqual(self.command(b"AT+COPS=7"), line(b"#CME ERROR: 34882"))

    def test_everyCommandTestForm(self) -> None:
        """
        Every command and parameter the bridge knows answers its =? form with OK; an unknown one
        answers 34817.
        """
        self.command(b"AT+CMEE=1")
        for name in list(registry.COMMANDS) + list(registry.PARAMETERS):
            answer = self.command(b"AT" + name.encode("ascii") + b"=?")
            self.assertTrue(answer.endswith(OK), (name, answer))
        self.assertEqual(self.command(b"AT+CXYZ=?"), line(b"#CME ERROR: 34817"))


class SIMConfigTests(SynchronousTestCase):
    """
    The C{.ini} keys that identify the SIM and its network.
    """

    def test_values(self) -> None:
        """
        Valid values are taken as given.
        """
        from tcpbridge.config import parseConfig

        [bridge] = parseConfig(
            "[bridge:a]\ndevice = pty:/tmp/x\nown_number = +33612345678\nimsi = 208011234567890\n"
            "iccid = 89330123456789012345\noperator = Orange F\n"
        )
        self.assertEqual(
            (bridge.own_number, bridge.imsi, bridge.iccid, bridge.operator),
            ("+33612345678", "208011234567890", "89330123456789012345", "Orange F"),
        )

    def test_errors(self) -> None:
        """
        A malformed value is a configuration error naming the key.
        """
        from tcpbridge.config import ConfigError, parseConfig

        for key, value in [
            ("own_number", "call me"),
            ("imsi", "12345"),
            ("iccid", "89ab"),
            ("operator", 'say "hi"'),
        ]:
            e = self.assertRaises(
                ConfigError, parseConfig, "[bridge:a]\ndevice = pty:/tmp/x\n%s = %s\n" % (key, value)
            )
            self.assertIn("[bridge:a] %s:" % (key,), str(e))
