"""
Tests for the AT commands of L{tcpbridge.modem.Modem} (the standard, GSM
and TCP commands, the parameters, the C{link} key): a test per command of
L{tcpbridge.registry.COMMANDS}, per parameter of L{PARAMETERS} and per error code, each
run in both dialects (C{w302} and C{universal-ip}) and with both verbose
(C{ATV1}) and numeric (C{ATV0}) result codes.

The host's view is all that is checked: what it sends on the serial line and
what it reads back, through a L{StringTransport} and a L{MemoryReactorClock}.
"""

import json
from typing import Any, Dict, List, Optional, Tuple

from twisted.internet.address import IPv4Address
from twisted.internet.defer import CancelledError
from twisted.internet.error import (
    CannotListenError,
    ConnectionDone,
    ConnectionRefusedError,
    DNSLookupError,
    TimeoutError,
)
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from tests.modemside import SerialSide
from tcpbridge import __version__
from tcpbridge.atcommands import ACTION, Command
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import DATA, IDLE, LISTENING, Modem
from tcpbridge.registry import COMMANDS, OWNERS
from tcpbridge.results import RESULT_CODES
from tcpbridge.services.tcp import errorCode
from tcpbridge.profile import PARAMETERS

#: For every parameter: a valid value as sent (without quotes), how it reads
#: back, and a value it must refuse (34882).
SAMPLES: Dict[str, Tuple[str, str, str]] = {
    "#TCPSERV": ("10.0.0.1", '"10.0.0.1"', "bad host!"),
    "#TCPPORT": ("2323", "2323", "65536"),
    "#DLEMODE": ("0", "0", "2"),
    "#TCPTXDELAY": ("40", "40", "30"),
    "#OUTPORT": ("4000", "4000", "65536"),
    "#GPRSMODE": ("0", "0", "2"),
    "#APNSERV": ("internet", '"internet"', "a" * 121),
    "#APNUN": ("user", '"user"', "u" * 65),
    "#APNPW": ("secret", '"secret"', "p" * 65),
    "#DNSSERV1": ("8.8.8.8", '"8.8.8.8"', "dns.example.com"),
    "#DNSSERV2": ("8.8.4.4", '"8.8.4.4"', "300.1.1.1"),
    "#DIALSELECT": ("1", "1", "3"),
    "#DIALN1": ("*99#", '"*99#"', "1" * 33),
    "#DIALN2": ("*98#", '"*98#"', "2" * 33),
    "#ISPUN": ("isp", '"isp"', "i" * 65),
    "#ISPPW": ("isppw", '"isppw"', "w" * 65),
    "#PPPMODE": ("2", "2", "5"),
    "#PHYTIMEOUT": ("30", "30", "0"),
    "#REDIALCOUNT": ("3", "3", "15"),
    "#REDIALDELAY": ("10", "10", "4"),
    "+WOPEN": ("0", "0", "3"),
    "+CGCLASS": ("CG", '"CG"', "ABC"),
    "+CGDCONT": ('1,"IP","internet"', '1,"IP","internet"', '1,"IP","%s"' % ("x" * 200,)),
    "+CREG": ("2", "2", "3"),
    "+CGREG": ("1", "1", "3"),
    # mail (SMTP, POP3)
    "#SMTPSERV": ("smtp.example.com", '"smtp.example.com"', "bad host!"),
    "#SMTPPORT": ("587", "587", "0"),
    "#SMTPUN": ("meter", '"meter"', "u" * 65),
    "#SMTPPW": ("secret", '"secret"', "p" * 65),
    "#SMTPAUTH": ("1", "1", "2"),
    "#DOMAIN": ("meters.example.com", '"meters.example.com"', "d" * 121),
    "#SENDERNAME": ("Meter 7", '"Meter 7"', "n" * 121),
    "#SENDERADDR": ("m7@example.com", '"m7@example.com"', "nobody"),
    "#POP3SERV": ("pop.example.com", '"pop.example.com"', "bad host!"),
    "#POP3PORT": ("995", "995", "65536"),
    "#POP3UN": ("meter", '"meter"', "u" * 65),
    "#POP3PW": ("secret", '"secret"', "p" * 65),
    "#POP3HEADERMODE": ("0", "0", "2"),
    "+WIND": ("255", "255", "65536"),
    "+CMGF": ("1", "1", "2"),
    "+CSCA": ('"+447785016005",145', '"+447785016005",145', '"call me",145'),
    "+CNMI": ("2,1,0,0,0", "2,1,0,0,0", "2,1,0,0,0,9"),
    "+CSMP": ("17,167,0,8", "17,167,0,8", "17,256,0,0"),
    # The FTP service.
    "#FTPSERV": ("ftp.example.com", '"ftp.example.com"', "bad host!"),
    "#FTPPORT": ("2121", "2121", "0"),
    "#FTPUN": ("logger", '"logger"', "u" * 121),
    "#FTPPW": ("secret", '"secret"', "p" * 121),
    "#FTPTYPE": ("a", "A", "E"),
    "#FTPMODE": ("1", "1", "2"),
    "#FTPGETFILENAME": ("config.txt", '"config.txt"', "f" * 121),
    "#FTPGETPATH": ("/etc", '"/etc"', "d" * 121),
    "#FTPPUTFILENAME": ("log.bin", '"log.bin"', "f" * 121),
    "#FTPPUTPATH": ("/logs", '"/logs"', "d" * 121),
    # The UDP service.
    "#UDPSERV": ("10.0.0.2", '"10.0.0.2"', "bad host!"),
    "#UDPPORT": ("5000", "5000", "65536"),
    "#UDPTXDELAY": ("60", "60", "30"),
    "#UDPDLEMODE": ("0", "0", "2"),
    # The ping service.
    "#PINGREMOTE": ("127.0.0.1", '"127.0.0.1"', "bad host!"),
    "#PINGNUM": ("10", "10", "256"),
    "#PINGDELAY": ("2", "2", "0"),
}
for _i in (1, 2, 3):
    SAMPLES["#REC%d" % _i] = ("a@example.com,b@example.com", '"a@example.com,b@example.com"', "nobody")
    SAMPLES["#CCREC%d" % _i] = ("c@example.com", '"c@example.com"', ",".join(["x@y.z"] * 11))
    SAMPLES["#SUBJ%d" % _i] = ("Door open", '"Door open"', "s" * 121)
    SAMPLES["#BODY%d" % _i] = ("Door 3 open", '"Door 3 open"', "bell\x07")

#: What C{AT+CREG?} and C{AT+CGREG?} add after the stored mode: the
#: registration state (1, home network, by default; GPRS detached until
#: attached).
READ_SUFFIX = {"+CREG": ",1", "+CGREG": ",0"}

#: The GPRS bring-up sequence firmware sends, and how each value reads back.
GPRS_INIT: List[Tuple[bytes, bytes, str]] = [
    (b"AT+WOPEN=1", b"AT+WOPEN?", "+WOPEN: 1"),
    (b'AT+CGDCONT=1,"IP","internet"', b"AT+CGDCONT?", '+CGDCONT: 1,"IP","internet"'),
    (b"AT+CGATT=1", b"AT+CGATT?", "+CGATT: 1"),
    (b"AT#GPRSMODE=1", b"AT#GPRSMODE?", "#GPRSMODE: 1"),
    (b'AT#APNSERV="internet"', b"AT#APNSERV?", '#APNSERV: "internet"'),
    (b'AT#APNUN="u"', b"AT#APNUN?", '#APNUN: "u"'),
    (b'AT#APNPW="p"', b"AT#APNPW?", '#APNPW: "p"'),
    (b'AT#DNSSERV1="8.8.8.8"', b"AT#DNSSERV1?", '#DNSSERV1: "8.8.8.8"'),
]


class RecordingSerial:
    """
    A stand-in for pyserial's C{Serial} behind a transport's C{_serial}:
    records every attribute set, with what the host had been sent by then.
    """

    def __init__(self, transport: StringTransport, **settings: Any) -> None:
        self.__dict__["sets"] = []
        self.__dict__["transport"] = transport
        line = dict(
            baudrate=115200, bytesize=8, parity="N", stopbits=1, rtscts=False, xonxoff=False
        )
        line.update(settings)
        self.__dict__.update(line)

    def __setattr__(self, name: str, value: Any) -> None:
        self.sets.append((name, value, self.transport.value()))
        self.__dict__[name] = value


class UnbindableReactor(MemoryReactorClock):
    """
    A memory reactor on which every port is already in use.
    """

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        raise CannotListenError(interface, port, OSError(98, "Address already in use"))


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        pass


@implementer(IHostnameResolver)
class NamelessResolver:
    """
    A resolver that knows no name: it completes with no address, at once
    (C{synchronous}) or when L{finish} is called, as a real one does.
    """

    def __init__(self, synchronous: bool = False) -> None:
        self.synchronous = synchronous
        self.pending: List[Any] = []

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        if self.synchronous:
            resolutionReceiver.resolutionComplete()
        else:
            self.pending.append(resolutionReceiver)
        return resolution

    def finish(self) -> None:
        """
        Complete every pending resolution, with no address.
        """
        pending, self.pending = self.pending, []
        for receiver in pending:
            receiver.resolutionComplete()


@implementer(IHostnameResolver)
class RecordingResolver:
    """
    A resolver that resolves every name to 192.0.2.7 at once, and records
    the names it was asked.
    """

    def __init__(self) -> None:
        self.asked: List[Tuple[str, int]] = []

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        self.asked.append((hostName, portNumber))
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        resolutionReceiver.addressResolved(IPv4Address("TCP", "192.0.2.7", portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


class ModemDriver(SerialSide):
    """
    Drives a L{Modem} from the host's side, in one dialect and one result
    mode; the helpers frame the expected answers for that mode.

    After L{makeModem} the modem has echo off, C{+CMEE=1} and the class's
    result mode, so an answer is exactly what the command produced.
    """

    dialect = "w302"
    verbose = True

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.makeModem()

    def makeModem(
        self,
        reactor: Optional[MemoryReactorClock] = None,
        serial: Optional[Dict[str, Any]] = None,
        prepare: bool = True,
        **config: Any,
    ) -> None:
        """
        Make the modem under test on a fresh serial transport (with a
        L{RecordingSerial} if C{serial} is given) and prepare it.
        """
        if reactor is not None:
            self.reactor = reactor
        config.setdefault("dialect", self.dialect)
        self.config = BridgeConfig(**config)
        self.modem = Modem(self.config, self.reactor)
        self.transport = StringTransport()
        if serial is not None:
            self.transport._serial = RecordingSerial(self.transport, **serial)
        self.modem.makeConnection(self.transport)
        if prepare:
            self.command(b"ATE0")
            self.command(b"AT+CMEE=1")
            if not self.verbose:
                self.assertEqual(self.command(b"ATV0"), b"0\r")
            self.written()

    # -- the serial line ----------------------------------------------------

    # -- expected answers -----------------------------------------------------

    def _verbose(self, verbose: Optional[bool]) -> bool:
        return self.verbose if verbose is None else verbose

    def info(self, *lines: str, verbose: Optional[bool] = None) -> bytes:
        """
        Information lines as the host reads them.
        """
        if self._verbose(verbose):
            return b"".join(b"\r\n" + line.encode("latin-1") + b"\r\n" for line in lines)
        return b"".join(line.encode("latin-1") + b"\r\n" for line in lines)

    def result(self, name: str, verbose: Optional[bool] = None) -> bytes:
        """
        A result code as the host reads it: its name or its number.
        """
        if self._verbose(verbose):
            return b"\r\n" + name.encode("ascii") + b"\r\n"
        return b"%d\r" % (RESULT_CODES[name],)

    def ok(self, *lines: str, verbose: Optional[bool] = None) -> bytes:
        """
        Information lines, then C{OK}.
        """
        return self.info(*lines, verbose=verbose) + self.result("OK", verbose=verbose)

    def cme(self, code: int, verbose: Optional[bool] = None) -> bytes:
        """
        The C{#CME ERROR} line for C{code}.
        """
        return self.info("#CME ERROR: %d" % (code,), verbose=verbose)

    def error(self, verbose: Optional[bool] = None) -> bytes:
        """
        The plain C{ERROR} result (without C{+CMEE=1}).
        """
        return self.result("ERROR", verbose=verbose)

    # -- parameters in this dialect -----------------------------------------

    @property
    def universal(self) -> bool:
        return self.dialect == "universal-ip"

    def setLine(self, name: str, text: str, pid: int = 1) -> bytes:
        """
        The line setting parameter C{name} of profile C{pid} to C{text}, in
        this dialect's usual form (strings in quotes; the profile id first
        in C{universal-ip}).
        """
        parameter = PARAMETERS[name]
        value = '"%s"' % (text,) if parameter.quoted else text
        if name[0] == "+":
            line = "AT%s=%s" % (name, value)
        elif self.universal and parameter.profiled:
            line = 'AT%s=%d,"%s"' % (name, pid, text)
        elif pid != 1:
            line = "AT%s=%d,%s" % (name, pid, value)
        else:
            line = "AT%s=%s" % (name, value)
        return line.encode("latin-1")

    def readLines(self, name: str, value1: str, value2: Optional[str] = None) -> List[str]:
        """
        What C{AT<name>?} shows when profile 1 holds C{value1} (and profile 2
        C{value2}, or the default, in C{universal-ip}).
        """
        parameter = PARAMETERS[name]
        if self.universal and parameter.profiled:
            if value2 is None:
                value2 = parameter.format(parameter.default)
            return ["%s: 1,%s" % (name, value1), "%s: 2,%s" % (name, value2)]
        return ["%s: %s%s" % (name, value1, READ_SUFFIX.get(name, ""))]

    def read(self, name: str) -> bytes:
        """
        Send C{AT<name>?}; return the answer.
        """
        return self.command(b"AT" + name.encode("ascii") + b"?")

    # -- sessions ---------------------------------------------------------------

    def listen(self, port: int = 2000, pid: int = 1) -> None:
        """
        Set TCPPORT of profile C{pid} and start listening on it.
        """
        self.assertEqual(self.command(self.setLine("#TCPPORT", str(port), pid)), self.ok())
        line = b"AT#LTCPSTART" if pid == 1 else b"AT#LTCPSTART=%d" % (pid,)
        self.assertEqual(self.command(line), self.ok())
        self.assertEqual(self.modem.state, LISTENING)

    def admit(self, host: str = "127.0.0.1") -> Tuple[Protocol, StringTransport]:
        """
        A peer at C{host} connects to the listening port and is admitted.
        """
        factory = self.reactor.tcpServers[-1][1]
        address = IPv4Address("TCP", host, 5000)
        peerTransport = StringTransport(peerAddress=address)
        protocol = factory.buildProtocol(address)
        self.assertIsNotNone(protocol)
        protocol.makeConnection(peerTransport)
        return protocol, peerTransport

    def dialled(
        self, host: str = "127.0.0.1", port: int = 2323
    ) -> Tuple[Protocol, StringTransport]:
        """
        The connection C{AT#OTCP} asked the reactor for succeeds.
        """
        factory = self.reactor.tcpClients[-1][2]
        address = IPv4Address("TCP", host, port)
        peerTransport = StringTransport(
            hostAddress=IPv4Address("TCP", "192.0.2.1", 40000), peerAddress=address
        )
        protocol = factory.buildProtocol(address)
        protocol.makeConnection(peerTransport)
        return protocol, peerTransport


class CommandTestsMixin(ModemDriver):
    """
    Tests for every command, error code and result code, run by the
    concrete classes below in each dialect and result mode.
    """

    # -- basics -----------------------------------------------------------------

    def test_at(self) -> None:
        """
        A bare AT answers OK.
        """
        self.assertEqual(self.command(b"AT"), self.ok())

    def test_echoOn(self) -> None:
        """
        ATE1 answers OK and the next line is echoed before its answer.
        """
        self.assertEqual(self.command(b"ATE1"), self.ok())
        self.assertEqual(self.command(b"AT"), b"AT\r" + self.ok())

    def test_echoOff(self) -> None:
        """
        ATE0 is itself echoed, and the lines after it are not.
        """
        self.command(b"ATE1")
        self.assertEqual(self.command(b"ATE0"), b"ATE0\r" + self.ok())
        self.assertEqual(self.command(b"AT"), self.ok())

    def test_echoBadValue(self) -> None:
        """
        ATE2 answers 34882 and leaves echo off.
        """
        self.assertEqual(self.command(b"ATE2"), self.cme(34882))
        self.assertEqual(self.command(b"AT"), self.ok())

    def test_verboseNumeric(self) -> None:
        """
        ATV0 makes results numbers ended by CR and information lines end in CR LF.
        """
        self.assertEqual(self.command(b"ATV0"), b"0\r")
        self.assertEqual(self.command(b"ATI"), self.ok(self.config.identity, verbose=False))
        self.assertEqual(self.command(b"AT+NOSUCH"), self.cme(34817, verbose=False))

    def test_verboseText(self) -> None:
        """
        ATV1 frames results and information lines in CR LF on both sides.
        """
        self.assertEqual(self.command(b"ATV1"), b"\r\nOK\r\n")
        self.assertEqual(self.command(b"ATI"), self.ok(self.config.identity, verbose=True))
        self.assertEqual(self.command(b"AT+NOSUCH"), self.cme(34817, verbose=True))

    def test_verboseBadValue(self) -> None:
        """
        ATV2 answers 34882 and the result mode stays as it was.
        """
        self.assertEqual(self.command(b"ATV2"), self.cme(34882))
        self.assertEqual(self.command(b"AT"), self.ok())

    def test_quiet(self) -> None:
        """
        ATQ1 suppresses result codes, errors included, but not information lines.
        """
        self.assertEqual(self.command(b"ATQ1"), b"")
        self.assertEqual(self.command(b"AT"), b"")
        self.assertEqual(self.command(b"AT+NOSUCH"), b"")
        self.assertEqual(self.command(b"ATI"), self.info(self.config.identity))
        self.assertEqual(self.command(b"ATQ0"), self.ok())
        self.assertEqual(self.command(b"AT"), self.ok())

    def test_quietPlainErrors(self) -> None:
        """
        ATQ1 suppresses plain ERROR too, when CMEE is 0.
        """
        self.command(b"AT+CMEE=0")
        self.command(b"ATQ1")
        self.assertEqual(self.command(b"AT+NOSUCH"), b"")

    def test_quietBadValue(self) -> None:
        """
        ATQ2 answers 34882 and results are still shown.
        """
        self.assertEqual(self.command(b"ATQ2"), self.cme(34882))
        self.assertEqual(self.command(b"AT"), self.ok())

    # -- ATZ, AT&F, AT&W ---------------------------------------------------------

    def test_restoreWithoutProfileFile(self) -> None:
        """
        ATZ with no profile file returns parameters and settings to the power-on values.
        """
        self.command(self.setLine("#TCPPORT", "23"))
        self.assertEqual(self.command(b"ATZ"), self.ok(verbose=True))
        self.assertEqual(self.command(b"AT+NOSUCH"), b"AT+NOSUCH\r" + self.error(verbose=True))
        self.command(b"ATE0")
        self.assertEqual(
            self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "0"), verbose=True)
        )

    def test_restoreSavedProfile(self) -> None:
        """
        ATZ returns echo, result mode and CMEE to the values AT&W saved.
        """
        self.makeModem(profile=self.mktemp())
        self.assertEqual(self.command(b"AT&W"), self.ok())
        self.command(b"ATE1")
        self.command(b"AT+CMEE=0")
        self.assertEqual(self.command(b"ATZ"), b"ATZ\r" + self.ok())
        self.assertEqual(self.command(b"AT+NOSUCH"), self.cme(34817))

    def test_restoreSavedParameters(self) -> None:
        """
        ATZ keeps the parameters as last saved, since every change is saved.
        """
        self.makeModem(profile=self.mktemp())
        self.command(self.setLine("#TCPPORT", "2323"))
        self.assertEqual(self.command(b"ATZ"), self.ok(verbose=True))
        self.command(b"ATE0")
        self.assertEqual(
            self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "2323"), verbose=True)
        )

    def test_factory(self) -> None:
        """
        AT&F returns parameters to the configured power-on values and settings to the factory ones.
        """
        self.makeModem(parameters={"tcpport": 23, "tcpserv": "10.0.0.9"})
        self.command(self.setLine("#TCPPORT", "99"))
        self.command(self.setLine("#TCPSERV", "10.0.0.1"))
        self.assertEqual(self.command(b"AT&F"), self.ok(verbose=True))
        self.assertEqual(self.command(b"AT"), b"AT\r" + self.ok(verbose=True))
        self.command(b"ATE0")
        self.assertEqual(
            self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "23", "23"), verbose=True)
        )
        self.assertEqual(
            self.read("#TCPSERV"),
            self.ok(*self.readLines("#TCPSERV", '"10.0.0.9"', '"10.0.0.9"'), verbose=True),
        )

    def test_factoryShared(self) -> None:
        """
        AT&F also returns the shared (GPRS) parameters to their defaults.
        """
        self.command(b'AT#APNSERV="internet"')
        self.command(b"AT&F")
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#APNSERV?"), self.ok('#APNSERV: ""', verbose=True))

    def test_save(self) -> None:
        """
        AT&W writes the current settings to the profile file.
        """
        path = self.mktemp()
        self.makeModem(profile=path)
        self.assertEqual(self.command(b"AT&W"), self.ok())
        with open(path) as f:
            settings = json.load(f)["settings"]
        self.assertEqual(
            (settings["echo"], settings["cmee"], settings["verbose"]), (0, 1, int(self.verbose))
        )

    def test_saveWithoutProfileFile(self) -> None:
        """
        AT&W with no profile file configured answers OK.
        """
        self.assertEqual(self.command(b"AT&W"), self.ok())

    def test_saveFailure(self) -> None:
        """
        AT&W that cannot write the profile file answers an error, and the modem goes on.
        """
        self.makeModem(profile=self.mktemp() + "/missing/profile.json")
        answer = self.command(b"AT&W")
        self.assertIn(b"#CME ERROR: ", answer)
        self.assertEqual(self.command(b"AT"), self.ok())

    def test_passwordsNotLogged(self) -> None:
        """
        A password set by the host is logged as set, never with its value; other values are.
        """
        from twisted.logger import formatEvent, globalLogPublisher

        events: List[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.command(b'AT#APNPW="hunter2"')
        self.command(b'AT#APNUN="meter"')
        logged = " ".join(formatEvent(e) for e in events)
        self.assertNotIn("hunter2", logged)
        self.assertIn("#APNPW of profile 1 set to (hidden)", logged)
        self.assertIn("meter", logged)

    def test_parameterSaveFailure(self) -> None:
        """
        A parameter change whose profile file cannot be written answers
        error 3; the value is in force all the same.
        """
        self.makeModem(profile=self.mktemp() + "/missing/profile.json")
        self.assertIn(b"#CME ERROR: 3\r\n", self.command(b'AT#APNSERV="apn"'))
        self.assertIn(b'"apn"', self.command(b"AT#APNSERV?"))
        # AT&F also restores AT+CMEE=0: the error is a plain one.
        self.assertIn(b"ERROR", self.command(b"AT&F"))

    def test_restoreSavedWithoutProfileFile(self) -> None:
        """
        With no profile file, ATZ still returns to the settings AT&W saved during this run.
        """
        self.assertEqual(self.command(b"AT&W"), self.ok())
        self.command(b"ATE1")
        self.assertEqual(self.command(b"ATZ"), b"ATZ\r" + self.ok())
        self.assertEqual(self.command(b"AT"), self.ok())


    # -- identity ----------------------------------------------------------------

    def test_identify(self) -> None:
        """
        ATI shows the configured identity.
        """
        self.makeModem(identity="Acme GPRS modem")
        self.assertEqual(self.command(b"ATI"), self.ok("Acme GPRS modem"))

    def test_manufacturer(self) -> None:
        """
        AT+CGMI shows the configured manufacturer.
        """
        self.makeModem(manufacturer="ACME")
        self.assertEqual(self.command(b"AT+CGMI"), self.ok("ACME"))

    def test_model(self) -> None:
        """
        AT+CGMM shows the configured model.
        """
        self.makeModem(model="M-1")
        self.assertEqual(self.command(b"AT+CGMM"), self.ok("M-1"))

    def test_modelGMM(self) -> None:
        """
        AT+GMM shows the configured model too.
        """
        self.makeModem(model="M-1")
        self.assertEqual(self.command(b"AT+GMM"), self.ok("M-1"))

    def test_revision(self) -> None:
        """
        AT+CGMR shows the configured revision.
        """
        self.makeModem(revision="R7.4")
        self.assertEqual(self.command(b"AT+CGMR"), self.ok("R7.4"))

    def test_serialNumber(self) -> None:
        """
        AT+CGSN shows the configured serial number.
        """
        self.makeModem(serial_number="351234567890123")
        self.assertEqual(self.command(b"AT+CGSN"), self.ok("351234567890123"))

    def test_identityDefaults(self) -> None:
        """
        Without configuration the identity commands answer as a Wavecom modem.
        """
        self.assertEqual(self.command(b"AT+CGMI"), self.ok("WAVECOM MODEM"))
        self.assertEqual(self.command(b"AT+CGMM"), self.ok("MULTIBAND  900E  1800"))

    # -- S registers ---------------------------------------------------------------

    def test_s3Read(self) -> None:
        """
        ATS3? reads the line end character as three digits.
        """
        self.assertEqual(self.command(b"ATS3?"), self.ok("013"))

    def test_s3Set(self) -> None:
        """
        ATS3=10 makes LF end the command line.
        """
        self.assertEqual(self.command(b"ATS3=10"), self.ok())
        self.assertEqual(self.send(b"AT\n"), self.ok())
        self.assertEqual(self.send(b"ATS3?\n"), self.ok("010"))

    def test_s3BadValue(self) -> None:
        """
        ATS3=128 answers 34882 and CR still ends lines.
        """
        self.assertEqual(self.command(b"ATS3=128"), self.cme(34882))
        self.assertEqual(self.command(b"AT"), self.ok())

    def test_s5Read(self) -> None:
        """
        ATS5? reads the backspace character as three digits.
        """
        self.assertEqual(self.command(b"ATS5?"), self.ok("008"))

    def test_s5Set(self) -> None:
        """
        ATS5=127 makes DEL the backspace character, and BS an ordinary one.
        """
        self.assertEqual(self.command(b"ATS5=127"), self.ok())
        self.assertEqual(self.command(b"ATX\x7f"), self.ok())
        self.assertEqual(self.command(b"AT\x08"), self.cme(34819))
        self.assertEqual(self.command(b"ATS5?"), self.ok("127"))

    def test_s5BadValue(self) -> None:
        """
        ATS5=200 answers 34882.
        """
        self.assertEqual(self.command(b"ATS5=200"), self.cme(34882))
        self.assertEqual(self.command(b"ATS5?"), self.ok("008"))

    # -- +CMEE -----------------------------------------------------------------------

    def test_cmeeRead(self) -> None:
        """
        AT+CMEE? reads the setting.
        """
        self.assertEqual(self.command(b"AT+CMEE?"), self.ok("+CMEE: 1"))

    def test_cmeeOff(self) -> None:
        """
        AT+CMEE=0 makes every error a plain ERROR.
        """
        self.assertEqual(self.command(b"AT+CMEE=0"), self.ok())
        self.assertEqual(self.command(b"AT+NOSUCH"), self.error())
        self.assertEqual(self.command(b"AT+CMEE?"), self.ok("+CMEE: 0"))

    def test_cmeeBadValue(self) -> None:
        """
        AT+CMEE=2 answers 34882.
        """
        self.assertEqual(self.command(b"AT+CMEE=2"), self.cme(34882))

    # -- the line: +IPR, +IFC, +ICF ----------------------------------------------------

    def test_iprRead(self) -> None:
        """
        AT+IPR? reads the configured line speed.
        """
        self.makeModem(baudrate=9600)
        self.assertEqual(self.command(b"AT+IPR?"), self.ok("+IPR: 9600"))

    def test_iprAppliedAfterOK(self) -> None:
        """
        AT+IPR=9600 changes the port's speed only once its OK has been written.
        """
        self.makeModem(serial={})
        self.assertEqual(self.command(b"AT+IPR=9600"), self.ok())
        self.assertEqual(self.transport._serial.sets, [("baudrate", 9600, self.ok())])
        self.assertEqual(self.command(b"AT+IPR?"), self.ok("+IPR: 9600"))

    def test_iprAppliedAfterError(self) -> None:
        """
        AT+IPR on a line that then fails changes the speed after the error is written.
        """
        self.makeModem(serial={})
        self.assertEqual(self.command(b"AT+IPR=19200;+NOSUCH"), self.cme(34817))
        self.assertEqual(self.transport._serial.sets, [("baudrate", 19200, self.cme(34817))])

    def test_iprBadValue(self) -> None:
        """
        AT+IPR with a speed the modem does not have answers 34882 and changes nothing.
        """
        self.makeModem(serial={})
        self.assertEqual(self.command(b"AT+IPR=1234"), self.cme(34882))
        self.assertEqual(self.transport._serial.sets, [])
        self.assertEqual(self.command(b"AT+IPR?"), self.ok("+IPR: 115200"))

    def test_iprAutobaud(self) -> None:
        """
        AT+IPR=0 (autobaud) answers OK and keeps the speed.
        """
        self.makeModem(serial={})
        self.assertEqual(self.command(b"AT+IPR=0"), self.ok())
        self.assertEqual(self.transport._serial.sets, [])

    def test_restoreAppliesSpeedAfterOK(self) -> None:
        """
        ATZ after AT+IPR puts the port back to the configured speed once its OK is out.
        """
        self.makeModem(serial={})
        self.command(b"AT+IPR=9600")
        self.transport._serial.sets[:] = []
        self.assertEqual(self.command(b"ATZ"), self.ok(verbose=True))
        self.assertEqual(self.transport._serial.sets, [("baudrate", 115200, self.ok(verbose=True))])

    def test_ifcRtsCts(self) -> None:
        """
        AT+IFC=2,2 turns RTS/CTS on for the open port after the OK.
        """
        self.makeModem(serial={})
        self.assertEqual(self.command(b"AT+IFC=2,2"), self.ok())
        self.assertEqual(self.transport._serial.sets, [("rtscts", True, self.ok())])
        self.assertEqual(self.command(b"AT+IFC?"), self.ok("+IFC: 2,2"))

    def test_ifcXonXoff(self) -> None:
        """
        AT+IFC=1,1 turns XON/XOFF on and RTS/CTS off.
        """
        self.makeModem(serial={"rtscts": True}, flowcontrol="rtscts")
        self.assertEqual(self.command(b"AT+IFC=1,1"), self.ok())
        self.assertEqual(
            sorted(s[:2] for s in self.transport._serial.sets),
            [("rtscts", False), ("xonxoff", True)],
        )
        self.assertEqual(self.command(b"AT+IFC?"), self.ok("+IFC: 1,1"))

    def test_ifcFromConfiguration(self) -> None:
        """
        AT+IFC? reads the configured flow control.
        """
        self.makeModem(flowcontrol="rtscts")
        self.assertEqual(self.command(b"AT+IFC?"), self.ok("+IFC: 2,2"))

    def test_ifcBadValue(self) -> None:
        """
        AT+IFC=3,0 answers 34882.
        """
        self.assertEqual(self.command(b"AT+IFC=3,0"), self.cme(34882))
        self.assertEqual(self.command(b"AT+IFC?"), self.ok("+IFC: 0,0"))

    def test_icf(self) -> None:
        """
        AT+ICF=5,0 makes the port 7 data bits, odd parity, 1 stop bit after the OK.
        """
        self.makeModem(serial={})
        self.assertEqual(self.command(b"AT+ICF=5,0"), self.ok())
        self.assertEqual(
            sorted(s[:2] for s in self.transport._serial.sets), [("bytesize", 7), ("parity", "O")]
        )
        self.assertEqual(self.command(b"AT+ICF?"), self.ok("+ICF: 5,0"))

    def test_icfEvenParity(self) -> None:
        """
        AT+ICF=2,1 makes the port 8 data bits, even parity, 1 stop bit.
        """
        self.makeModem(serial={})
        self.assertEqual(self.command(b"AT+ICF=2,1"), self.ok())
        self.assertEqual(self.transport._serial.sets, [("parity", "E", self.ok())])

    def test_icfFromConfiguration(self) -> None:
        """
        AT+ICF? reads the configured format: 8N1 is 3, 7E1 is 5 with parity 1.
        """
        self.assertEqual(self.command(b"AT+ICF?"), self.ok("+ICF: 3,0"))
        self.makeModem(bytesize=7, parity="E")
        self.assertEqual(self.command(b"AT+ICF?"), self.ok("+ICF: 5,1"))

    def test_icfBadValue(self) -> None:
        """
        AT+ICF=7 answers 34882.
        """
        self.assertEqual(self.command(b"AT+ICF=7"), self.cme(34882))
        self.assertEqual(self.command(b"AT+ICF=3,4"), self.cme(34882))

    def test_configuredSpeedKept(self) -> None:
        """
        A configured speed that AT+IPR does not list (14400) is left on the port at start-up.
        """
        self.makeModem(serial={"baudrate": 14400}, baudrate=14400)
        self.assertEqual(self.transport._serial.sets, [])
        self.assertEqual(self.transport._serial.baudrate, 14400)


    def test_configuredFormatKept(self) -> None:
        """
        A configured format that AT+ICF cannot express (8E2) is left on the port at start-up.
        """
        self.makeModem(serial={"parity": "E", "stopbits": 2}, parity="E", stopbits=2)
        self.assertEqual(self.transport._serial.sets, [])


    # -- GSM status ---------------------------------------------------------------

    def test_csq(self) -> None:
        """
        AT+CSQ answers a good signal, +CSQ: 20,0.
        """
        self.assertEqual(self.command(b"AT+CSQ"), self.ok("+CSQ: 20,0"))

    def test_csqConfigured(self) -> None:
        """
        AT+CSQ answers the configured signal.
        """
        self.makeModem(csq="31,99")
        self.assertEqual(self.command(b"AT+CSQ"), self.ok("+CSQ: 31,99"))

    def test_creg(self) -> None:
        """
        AT+CREG? answers registered on the home network, +CREG: 0,1.
        """
        self.assertEqual(self.command(b"AT+CREG?"), self.ok("+CREG: 0,1"))

    def test_cregConfigured(self) -> None:
        """
        AT+CREG? answers the configured registration state with the mode set by AT+CREG=n.
        """
        self.makeModem(registration=5)
        self.assertEqual(self.command(b"AT+CREG=2"), self.ok())
        self.assertEqual(self.command(b"AT+CREG?"), self.ok("+CREG: 2,5"))

    def test_cgreg(self) -> None:
        """
        AT+CGREG? answers detached at power-on, +CGREG: 0,0, and attached on the home network
        after AT+CGATT=1, +CGREG: 0,1.
        """
        self.assertEqual(self.command(b"AT+CGREG?"), self.ok("+CGREG: 0,0"))
        self.assertEqual(self.command(b"AT+CGATT=1"), self.ok())
        self.assertEqual(self.command(b"AT+CGREG?"), self.ok("+CGREG: 0,1"))

    def test_cgregConfigured(self) -> None:
        """
        AT+CGREG? answers the configured registration state once attached.
        """
        self.makeModem(registration=5)
        self.command(b"AT+CGATT=1")
        self.assertEqual(self.command(b"AT+CGREG?"), self.ok("+CGREG: 0,5"))

    def test_cpin(self) -> None:
        """
        AT+CPIN? answers +CPIN: READY.
        """
        self.assertEqual(self.command(b"AT+CPIN?"), self.ok("+CPIN: READY"))

    def test_cpinConfigured(self) -> None:
        """
        AT+CPIN? answers the configured SIM state, and entering a PIN is accepted.
        """
        self.makeModem(cpin="SIM PIN")
        self.assertEqual(self.command(b"AT+CPIN?"), self.ok("+CPIN: SIM PIN"))
        self.assertEqual(self.command(b'AT+CPIN="1234"'), self.ok())

    def test_cced(self) -> None:
        """
        AT+CCED=... is accepted with OK.
        """
        self.assertEqual(self.command(b"AT+CCED=0,1"), self.ok())
        self.assertEqual(self.command(b"AT+CCED=0,16"), self.ok())

    # -- GPRS bring-up ---------------------------------------------------------------

    def test_gprsInitAccepted(self) -> None:
        """
        Every command of a GPRS init sequence answers OK.
        """
        for line, query, shown in GPRS_INIT:
            self.assertEqual(self.command(line), self.ok(), line)

    def test_gprsInitReadBack(self) -> None:
        """
        Every value of a GPRS init sequence reads back as it was set.
        """
        for line, query, shown in GPRS_INIT:
            self.command(line)
            self.assertEqual(self.command(query), self.ok(shown), query)

    def test_gprsInitInVALL(self) -> None:
        """
        AT#VALL shows every value a GPRS init sequence set (the attach is a state, not a value).
        """
        for line, query, shown in GPRS_INIT:
            self.command(line)
        answer = self.command(b"AT#VALL")
        for line, query, shown in GPRS_INIT:
            if query != b"AT+CGATT?":
                self.assertIn(self.info(shown), answer)

    # -- information commands ------------------------------------------------------------

    def test_vversion(self) -> None:
        """
        AT#VVERSION shows the name and version in quotes.
        """
        self.assertEqual(
            self.command(b"AT#VVERSION"), self.ok('#VERSION: "tcpbridge %s"' % (__version__,))
        )

    def test_vstateIdle(self) -> None:
        """
        AT#VSTATE shows IDLE in command mode.
        """
        self.assertEqual(self.command(b"AT#VSTATE"), self.ok('#STATE: "IDLE"'))

    def test_vstateListening(self) -> None:
        """
        AT#VSTATE shows IDLE while listening: no session is connected.
        """
        self.listen()
        self.assertEqual(self.command(b"AT#VSTATE"), self.ok('#STATE: "IDLE"'))

    def test_vstateConnected(self) -> None:
        """
        During a session AT#VSTATE shows CONNECTED (run directly: the host cannot ask in data mode).
        """
        self.listen()
        self.admit()
        self.written()
        self.modem._dispatch(Command("#VSTATE", ACTION))
        self.assertEqual(self.written(), self.info('#STATE: "CONNECTED"'))

    def test_vtcp(self) -> None:
        """
        AT#VTCP lists the TCP parameters of profile 1, and only them, then OK.
        """
        self.command(self.setLine("#TCPPORT", "23"))
        self.command(b'AT#APNSERV="internet"')
        self.assertEqual(
            self.command(b"AT#VTCP"),
            self.ok(
                '#TCPSERV: "255.255.255.255"',
                "#TCPPORT: 23",
                "#DLEMODE: 1",
                "#TCPTXDELAY: 100",
                "#OUTPORT: 0",
            ),
        )

    def test_vtcpProfile2(self) -> None:
        """
        AT#VTCP=2 lists the TCP parameters of profile 2.
        """
        self.command(self.setLine("#TCPPORT", "24", pid=2))
        answer = self.command(b"AT#VTCP=2")
        self.assertIn(self.info("#TCPPORT: 24"), answer)
        self.assertTrue(answer.endswith(self.ok()))

    def test_vtcpBadProfile(self) -> None:
        """
        AT#VTCP=3 answers 34882.
        """
        self.assertEqual(self.command(b"AT#VTCP=3"), self.cme(34882))

    def test_vall(self) -> None:
        """
        AT#VALL lists every parameter, one line each in table order, then OK.
        """
        lines = [
            "%s: %s" % (name, parameter.format(parameter.default))
            for name, parameter in PARAMETERS.items()
        ]
        self.assertEqual(self.command(b"AT#VALL"), self.ok(*lines))

    def test_displayip(self) -> None:
        """
        AT#DISPLAYIP shows the interface as its address and no peer, then OK.
        """
        self.makeModem(interface="127.0.0.1")
        self.assertEqual(
            self.command(b"AT#DISPLAYIP"),
            self.ok('#MY IP: "127.0.0.1"', '#PEER IP: "0.0.0.0"', '#GATEWAY IP: "0.0.0.0"'),
        )

    def test_displayipSession(self) -> None:
        """
        During a session AT#DISPLAYIP shows the peer (run directly: the host cannot ask in data mode).
        """
        self.listen()
        self.admit("10.1.2.3")
        self.written()
        self.modem._dispatch(Command("#DISPLAYIP", ACTION))
        self.assertIn(self.info('#PEER IP: "10.1.2.3"'), self.written())

    def test_displayipLinkDown(self) -> None:
        """
        With link = explicit, AT#DISPLAYIP shows 0.0.0.0 until AT#CONNECTIONSTART, then the interface.
        """
        self.makeModem(link="explicit", interface="127.0.0.1")
        self.assertIn(self.info('#MY IP: "0.0.0.0"'), self.command(b"AT#DISPLAYIP"))
        self.command(b"AT#CONNECTIONSTART")
        self.assertIn(self.info('#MY IP: "127.0.0.1"'), self.command(b"AT#DISPLAYIP"))

    def test_connectionstart(self) -> None:
        """
        AT#CONNECTIONSTART answers Ok_Info_GprsActivation then the local address, instead of OK.
        """
        self.makeModem(interface="127.0.0.1")
        self.assertEqual(
            self.command(b"AT#CONNECTIONSTART"),
            self.result("Ok_Info_GprsActivation") + self.info("127.0.0.1"),
        )

    def test_connectionstop(self) -> None:
        """
        AT#CONNECTIONSTOP answers OK.
        """
        self.assertEqual(self.command(b"AT#CONNECTIONSTOP"), self.ok())

    # -- listening ---------------------------------------------------------------------

    def test_ltcpstart(self) -> None:
        """
        AT#LTCPSTART binds TCPPORT and answers OK.
        """
        self.command(self.setLine("#TCPPORT", "2000"))
        self.assertEqual(self.command(b"AT#LTCPSTART"), self.ok())
        self.assertEqual(self.reactor.tcpServers[0][0], 2000)
        self.assertEqual(self.modem.state, LISTENING)

    def test_ltcpstartProfile2(self) -> None:
        """
        AT#LTCPSTART=2 binds the TCPPORT of profile 2.
        """
        self.command(self.setLine("#TCPPORT", "2002", pid=2))
        self.assertEqual(self.command(b"AT#LTCPSTART=2"), self.ok())
        self.assertEqual(self.reactor.tcpServers[0][0], 2002)

    def test_ltcpstop(self) -> None:
        """
        AT#LTCPSTOP stops listening and answers OK.
        """
        self.listen()
        self.assertEqual(self.command(b"AT#LTCPSTOP"), self.ok())
        self.assertEqual(self.modem.state, IDLE)

    def test_ltcpstopBadProfile(self) -> None:
        """
        AT#LTCPSTOP=3 answers 34882 and listening goes on.
        """
        self.listen()
        self.assertEqual(self.command(b"AT#LTCPSTOP=3"), self.cme(34882))
        self.assertEqual(self.modem.state, LISTENING)

    def test_ltcpstopOtherProfile(self) -> None:
        """
        AT#LTCPSTOP=2 does not stop the listening of profile 1.
        """
        self.listen()
        self.command(b"AT#LTCPSTOP=2")
        self.assertEqual(self.modem.state, LISTENING)


    def test_waitingForData(self) -> None:
        """
        An admitted peer is announced with Ok_Info_WaitingForData (1028).
        """
        self.listen()
        self.admit()
        self.assertEqual(self.written(), self.result("Ok_Info_WaitingForData"))
        self.assertEqual(self.modem.state, DATA)

    def test_socketClosed(self) -> None:
        """
        When the peer closes, the host gets ETX, Ok_Info_SocketClosed (3074), then OK.
        """
        self.listen()
        protocol, peerTransport = self.admit()
        self.written()
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), b"\x03" + self.result("Ok_Info_SocketClosed") + self.ok())

    # -- dialling out --------------------------------------------------------------------

    def dial(self, host: str = "10.0.0.1", port: int = 2323) -> bytes:
        """
        Set TCPSERV and TCPPORT and send AT#OTCP; return the immediate answer.
        """
        self.assertEqual(self.command(self.setLine("#TCPSERV", host)), self.ok())
        self.assertEqual(self.command(self.setLine("#TCPPORT", str(port))), self.ok())
        return self.command(b"AT#OTCP")

    def test_otcp(self) -> None:
        """
        AT#OTCP connects to TCPSERV on TCPPORT and announces the session with Ok_Info_WaitingForData.
        """
        resolver = RecordingResolver()
        self.reactor.nameResolver = resolver
        self.assertEqual(self.dial("peer.example.com"), b"")
        self.assertEqual(resolver.asked, [("peer.example.com", 2323)])
        self.assertEqual(self.reactor.tcpClients[0][:2], ("192.0.2.7", 2323))
        self.dialled()
        self.assertEqual(self.written(), self.result("Ok_Info_WaitingForData"))
        self.assertEqual(self.modem.state, DATA)

    def test_otcpOutport(self) -> None:
        """
        AT#OTCP connects from OUTPORT when it is set.
        """
        self.command(self.setLine("#OUTPORT", "4000"))
        self.dial()
        self.assertEqual(self.reactor.tcpClients[0][4], ("", 4000))

    def test_otcpSocketClosed(self) -> None:
        """
        When the dialled peer closes, the host gets ETX, Ok_Info_SocketClosed, then OK.
        """
        self.dial()
        protocol, peerTransport = self.dialled()
        self.written()
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), b"\x03" + self.result("Ok_Info_SocketClosed") + self.ok())
        self.assertEqual(self.modem.state, IDLE)

    def test_otcpProfile2(self) -> None:
        """
        AT#OTCP=2 connects to the TCPSERV and TCPPORT of profile 2.
        """
        resolver = RecordingResolver()
        self.reactor.nameResolver = resolver
        self.command(self.setLine("#TCPSERV", "peer2.example.com", pid=2))
        self.command(self.setLine("#TCPPORT", "2002", pid=2))
        self.assertEqual(self.command(b"AT#OTCP=2"), b"")
        self.assertEqual(resolver.asked, [("peer2.example.com", 2002)])
        self.dialled()
        self.assertEqual(self.written(), self.result("Ok_Info_WaitingForData"))

    def test_otcpWithoutPort(self) -> None:
        """
        AT#OTCP with TCPPORT 0 answers 34882 and connects nothing.
        """
        self.command(self.setLine("#TCPSERV", "10.0.0.1"))
        self.assertEqual(self.command(b"AT#OTCP"), self.cme(34882))
        self.assertEqual(self.reactor.tcpClients, [])

    def test_otcpEveryone(self) -> None:
        """
        AT#OTCP with TCPSERV 255.255.255.255 answers 34882: there is no one to call.
        """
        self.command(self.setLine("#TCPPORT", "2323"))
        self.assertEqual(self.command(b"AT#OTCP"), self.cme(34882))

    # -- error codes ---------------------------------------------------------------------

    def test_unknownCommand(self) -> None:
        """
        Unknown commands answer 34817.
        """
        self.assertEqual(self.command(b"AT+NOSUCH"), self.cme(34817))
        self.assertEqual(self.command(b"AT#NOSUCH"), self.cme(34817))
        self.assertEqual(self.command(b"ATS7=1"), self.cme(34817))

    def test_unknownCommandPlain(self) -> None:
        """
        Without AT+CMEE=1 an unknown command answers ERROR (4).
        """
        self.command(b"AT+CMEE=0")
        self.assertEqual(self.command(b"AT+NOSUCH"), self.error())

    def test_syntaxError(self) -> None:
        """
        Malformed lines answer 34819.
        """
        self.assertEqual(self.command(b'AT#TCPSERV="10.0.0.1'), self.cme(34819))
        self.assertEqual(self.command(b"AT#TCPPORT"), self.cme(34819))
        self.assertEqual(self.command(b"XYZ"), self.cme(34819))

    def test_lineTooLong(self) -> None:
        """
        A line over 1024 characters is discarded with 34881 and the modem still answers.
        """
        self.assertEqual(self.command(b"AT" + b"E" * 1100), self.cme(34881))
        self.assertEqual(self.command(b"AT"), self.ok())
        self.assertFalse(self.transport.disconnecting)

    def test_lineTooLongPlain(self) -> None:
        """
        Without AT+CMEE=1 an overlong line answers ERROR.
        """
        self.command(b"AT+CMEE=0")
        self.assertEqual(self.command(b"AT" + b" " * 1023), self.error())

    def test_badValue(self) -> None:
        """
        A value out of range answers 34882 and changes nothing.
        """
        self.assertEqual(self.command(self.setLine("#TCPPORT", "65536")), self.cme(34882))
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "0")))

    def test_tcpportBounds(self) -> None:
        """
        TCPPORT takes 0 (not set) to 65535.
        """
        self.assertEqual(self.command(self.setLine("#TCPPORT", "65535")), self.ok())
        self.assertEqual(self.command(self.setLine("#TCPPORT", "0")), self.ok())
        self.assertEqual(self.command(self.setLine("#TCPPORT", "-1")), self.cme(34882))

    def test_tcptxdelayBounds(self) -> None:
        """
        TCPTXDELAY takes multiples of 20 from 0 to 32760.
        """
        self.assertEqual(self.command(self.setLine("#TCPTXDELAY", "32760")), self.ok())
        self.assertEqual(self.command(self.setLine("#TCPTXDELAY", "0")), self.ok())
        self.assertEqual(self.command(self.setLine("#TCPTXDELAY", "32780")), self.cme(34882))
        self.assertEqual(self.command(self.setLine("#TCPTXDELAY", "110")), self.cme(34882))

    def test_tcpservLength(self) -> None:
        """
        TCPSERV takes a host name of up to 120 characters, not 121.
        """
        name = "a" * 60 + "." + "b" * 59
        self.assertEqual(self.command(self.setLine("#TCPSERV", name)), self.ok())
        self.assertEqual(self.command(self.setLine("#TCPSERV", name + "b")), self.cme(34882))

    def test_linkDownLtcpstart(self) -> None:
        """
        With link = explicit, AT#LTCPSTART before AT#CONNECTIONSTART answers 35867 and binds nothing.
        """
        self.makeModem(link="explicit")
        self.command(self.setLine("#TCPPORT", "2000"))
        self.assertEqual(self.command(b"AT#LTCPSTART"), self.cme(35867))
        self.assertEqual(self.reactor.tcpServers, [])

    def test_linkDownOtcp(self) -> None:
        """
        With link = explicit, AT#OTCP before AT#CONNECTIONSTART answers 35867 and connects nothing.
        """
        self.makeModem(link="explicit")
        self.assertEqual(self.dial(), self.cme(35867))
        self.assertEqual(self.reactor.tcpClients, [])

    def test_linkUpLtcpstart(self) -> None:
        """
        With link = explicit, AT#LTCPSTART after AT#CONNECTIONSTART listens.
        """
        self.makeModem(link="explicit")
        self.assertEqual(
            self.command(b"AT#CONNECTIONSTART"),
            self.result("Ok_Info_GprsActivation") + self.info("0.0.0.0"),
        )
        self.listen()
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_linkUpOtcp(self) -> None:
        """
        With link = explicit, AT#OTCP after AT#CONNECTIONSTART connects.
        """
        self.makeModem(link="explicit")
        self.command(b"AT#CONNECTIONSTART")
        self.assertEqual(self.dial(), b"")
        self.assertEqual(len(self.reactor.tcpClients), 1)

    def test_linkDownAgain(self) -> None:
        """
        With link = explicit, AT#CONNECTIONSTOP takes the link down again: 35867.
        """
        self.makeModem(link="explicit")
        self.command(b"AT#CONNECTIONSTART")
        self.assertEqual(self.command(b"AT#CONNECTIONSTOP"), self.ok())
        self.command(self.setLine("#TCPPORT", "2000"))
        self.assertEqual(self.command(b"AT#LTCPSTART"), self.cme(35867))

    def test_linkAuto(self) -> None:
        """
        With link = auto, AT#CONNECTIONSTOP does not take the link down.
        """
        self.command(b"AT#CONNECTIONSTOP")
        self.listen()

    def test_busyParameter(self) -> None:
        """
        Changing a TCP parameter of the listening profile answers 37123 and changes nothing.
        """
        self.listen(2000)
        self.assertEqual(self.command(self.setLine("#TCPPORT", "2001")), self.cme(37123))
        self.assertEqual(self.command(self.setLine("#DLEMODE", "0")), self.cme(37123))
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "2000")))

    def test_busyOtherProfileAllowed(self) -> None:
        """
        Changing profile 2 while profile 1 listens is allowed.
        """
        self.listen(2000)
        self.assertEqual(self.command(self.setLine("#TCPPORT", "2002", pid=2)), self.ok())
        self.assertEqual(self.command(b"AT#VTCP=2"), self.ok(
            '#TCPSERV: "255.255.255.255"', "#TCPPORT: 2002", "#DLEMODE: 1",
            "#TCPTXDELAY: 100", "#OUTPORT: 0",
        ))

    def test_busyProfile2Listening(self) -> None:
        """
        While profile 2 listens, its parameters answer 37123 and profile 1's may change.
        """
        self.listen(2002, pid=2)
        self.assertEqual(self.command(self.setLine("#TCPPORT", "2003", pid=2)), self.cme(37123))
        self.assertEqual(self.command(self.setLine("#TCPPORT", "2001")), self.ok())

    def test_busySharedAllowed(self) -> None:
        """
        The shared GPRS parameters may change while listening.
        """
        self.listen()
        self.assertEqual(self.command(b'AT#APNSERV="internet"'), self.ok())

    def test_busyLtcpstart(self) -> None:
        """
        AT#LTCPSTART while listening answers 37123 and binds nothing more.
        """
        self.listen()
        self.assertEqual(self.command(b"AT#LTCPSTART"), self.cme(37123))
        self.assertEqual(self.command(b"AT#LTCPSTART=2"), self.cme(37123))
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_busyRestore(self) -> None:
        """
        ATZ while listening answers 37123 and changes nothing.
        """
        self.listen()
        self.assertEqual(self.command(b"ATZ"), self.cme(37123))
        self.assertEqual(self.modem.state, LISTENING)
        self.assertEqual(self.command(b"AT"), self.ok())

    def test_busyFactory(self) -> None:
        """
        AT&F while listening answers 37123 and changes nothing.
        """
        self.listen(2000)
        self.assertEqual(self.command(b"AT&F"), self.cme(37123))
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "2000")))

    def test_busyOtcp(self) -> None:
        """
        AT#OTCP while listening answers 37123.
        """
        self.command(self.setLine("#TCPSERV", "10.0.0.1", pid=2))
        self.listen()
        self.assertEqual(self.command(b"AT#OTCP=2"), self.cme(37123))
        self.assertEqual(self.reactor.tcpClients, [])

    def test_busyConnectionstop(self) -> None:
        """
        AT#CONNECTIONSTOP while listening answers 37123.
        """
        self.listen()
        self.assertEqual(self.command(b"AT#CONNECTIONSTOP"), self.cme(37123))

    def test_bindFailure(self) -> None:
        """
        AT#LTCPSTART on a port in use answers 38016 and the modem stays idle.
        """
        self.makeModem(reactor=UnbindableReactor())
        self.command(self.setLine("#TCPPORT", "2000"))
        self.assertEqual(self.command(b"AT#LTCPSTART"), self.cme(38016))
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.command(self.setLine("#TCPPORT", "2001")), self.ok())

    def test_connectionRefused(self) -> None:
        """
        AT#OTCP to a peer that refuses answers 38016.
        """
        self.dial()
        factory = self.reactor.tcpClients[0][2]
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        self.reactor.advance(1)
        self.assertEqual(self.written(), self.cme(38016))
        self.assertEqual(self.modem.state, IDLE)

    def test_connectTimeout(self) -> None:
        """
        AT#OTCP to a peer that does not answer answers 38016 after connect_timeout.
        """
        self.makeModem(connect_timeout=5)
        self.dial()
        self.reactor.advance(4.9)
        self.assertEqual(self.written(), b"")
        self.reactor.advance(0.1)
        self.assertEqual(self.written(), self.cme(38016))
        self.assertEqual(self.modem.state, IDLE)

    def test_dnsFailure(self) -> None:
        """
        AT#OTCP to a name that does not resolve answers 38027.
        """
        resolver = NamelessResolver()
        self.reactor.nameResolver = resolver
        self.assertEqual(self.dial("nowhere.invalid"), b"")
        resolver.finish()
        self.assertEqual(self.written(), self.cme(38027))
        self.assertEqual(self.modem.state, IDLE)

    def test_dnsFailureAtOnce(self) -> None:
        """
        AT#OTCP to a name whose lookup fails at once also answers 38027.
        """
        self.reactor.nameResolver = NamelessResolver(synchronous=True)
        answer = self.dial("nowhere.invalid")
        self.flushLoggedErrors()
        self.assertEqual(answer, self.cme(38027))


    def test_invalidHostName(self) -> None:
        """
        AT#OTCP to a name the endpoint refuses at once (an empty label) answers an error, not OK.
        """
        answer = self.dial("a..b")
        self.flushLoggedErrors()
        self.assertEqual(answer, self.cme(38016))
        self.assertEqual(self.modem.state, IDLE)


    # -- several commands on a line ------------------------------------------------------

    def test_basicConcatenated(self) -> None:
        """
        ATE1V0 runs both basic commands, with one result.
        """
        self.assertEqual(self.command(b"ATE1V0"), b"0\r")
        self.assertEqual(self.command(b"AT"), b"AT\r0\r")
        self.assertEqual(self.command(b"ATE0V1"), b"ATE0V1\r\r\nOK\r\n")
        self.assertEqual(self.command(b"AT"), b"\r\nOK\r\n")

    def test_extendedSeparated(self) -> None:
        """
        Extended commands separated by ; all run, with one OK.
        """
        line = self.setLine("#TCPPORT", "23") + b";" + self.setLine("#DLEMODE", "0")[2:]
        self.assertEqual(self.command(line), self.ok())
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "23")))
        self.assertEqual(self.read("#DLEMODE"), self.ok(*self.readLines("#DLEMODE", "0")))

    def test_extendedSpecExample(self) -> None:
        """
        AT#TCPPORT=1,"23";#DLEMODE=1,"0" (the form both dialects share) runs both.
        """
        self.assertEqual(self.command(b'AT#TCPPORT=1,"23";#DLEMODE=1,"0"'), self.ok())
        self.assertEqual(self.command(b"AT#VTCP"), self.ok(
            '#TCPSERV: "255.255.255.255"', "#TCPPORT: 23", "#DLEMODE: 0",
            "#TCPTXDELAY: 100", "#OUTPORT: 0",
        ))

    def test_stopsAtUnknownCommand(self) -> None:
        """
        A line stops at an unknown command: those before ran, those after did not.
        """
        line = (
            self.setLine("#TCPPORT", "23") + b";#NOSUCH;" + self.setLine("#DLEMODE", "0")[2:]
        )
        self.assertEqual(self.command(line), self.cme(34817))
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "23")))
        self.assertEqual(self.read("#DLEMODE"), self.ok(*self.readLines("#DLEMODE", "1")))

    def test_stopsAtBadValue(self) -> None:
        """
        A line stops at a bad value: those before ran, those after did not.
        """
        line = b";".join(
            [
                self.setLine("#TCPPORT", "23"),
                self.setLine("#TCPTXDELAY", "30")[2:],
                self.setLine("#DLEMODE", "0")[2:],
            ]
        )
        self.assertEqual(self.command(line), self.cme(34882))
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "23")))
        self.assertEqual(self.read("#DLEMODE"), self.ok(*self.readLines("#DLEMODE", "1")))

    def test_basicStopsAtError(self) -> None:
        """
        ATV0XE1 runs V0, stops at the unknown X, and never runs E1.
        """
        self.command(b"ATV1")
        self.assertEqual(self.command(b"ATV0XE1"), self.cme(34817, verbose=False))
        self.assertEqual(self.command(b"AT"), b"0\r")

    def test_stopsAtBusy(self) -> None:
        """
        A line stops at 37123 after an AT#LTCPSTART that answered later in the line.
        """
        line = b";".join(
            [
                self.setLine("#TCPPORT", "2000"),
                b"#LTCPSTART",
                self.setLine("#TCPPORT", "2001")[2:],
            ]
        )
        self.assertEqual(self.command(line), self.cme(37123))
        self.assertEqual(self.reactor.tcpServers[0][0], 2000)

    def test_repeat(self) -> None:
        """
        A/ runs the previous line again at once, without CR.
        """
        self.command(self.setLine("#TCPPORT", "23"))
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "23")))
        self.assertEqual(self.send(b"A/"), self.ok(*self.readLines("#TCPPORT", "23")))

    def test_repeatError(self) -> None:
        """
        A/ after an error line repeats the error.
        """
        self.command(b"AT+NOSUCH")
        self.assertEqual(self.send(b"a/"), self.cme(34817))

    def test_backspace(self) -> None:
        """
        Backspace deletes the last character of the line.
        """
        self.assertEqual(self.command(self.setLine("#TCPPORT", "99\x08\x0823")), self.ok())
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "23")))

    def test_backspaceEchoed(self) -> None:
        """
        With echo on, backspace is echoed like any other character.
        """
        self.command(b"ATE1")
        self.assertEqual(self.command(b"ATX\x08"), b"ATX\x08\r" + self.ok())

    def test_lineFeedIgnored(self) -> None:
        """
        LF after CR is ignored.
        """
        self.assertEqual(self.send(b"AT\r\nAT\r\n"), self.ok() + self.ok())

    # -- help: AT...=? ---------------------------------------------------------------------

    def test_helpEveryCommand(self) -> None:
        """
        Every command of COMMANDS answers =? with its help line, if any, then OK (unless it answers
        =? itself).
        """
        for name, (method, forms, helpText) in COMMANDS.items():
            if "t" in forms:
                # The command answers =? itself (tested with its service).
                continue
            answer = self.command(b"AT" + name.encode("ascii") + b"=?")
            expected = self.ok(helpText) if helpText else self.ok()
            self.assertEqual(answer, expected, name)

    def test_helpEveryParameter(self) -> None:
        """
        Every parameter of PARAMETERS answers =? with its allowed values, then OK.
        """
        for name, parameter in PARAMETERS.items():
            answer = self.command(b"AT" + name.encode("ascii") + b"=?")
            self.assertEqual(answer, self.ok(self.helpLine(name)), name)

    def helpLine(self, name: str) -> str:
        """
        What C{AT<name>=?} shows for a parameter in this dialect.
        """
        parameter = PARAMETERS[name]
        if self.universal and parameter.profiled:
            return "%s: (1-2),%s" % (name, parameter.allowed)
        return "%s: %s" % (name, parameter.allowed)

    def test_helpDoesNotAct(self) -> None:
        """
        The =? form of an action command does nothing but answer.
        """
        self.makeModem(serial={}, link="explicit")
        self.command(self.setLine("#TCPPORT", "23"))
        for line in (b"AT&F=?", b"ATZ=?", b"AT+IPR=?", b"AT#CONNECTIONSTART=?", b"AT#OTCP=?"):
            self.command(line)
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "23")))
        self.assertEqual(self.transport._serial.sets, [])
        self.assertEqual(self.command(b"AT#LTCPSTART"), self.cme(35867))

    def test_readFormDoesNotAct(self) -> None:
        """
        AT&F? is not a factory reset, as ATE? and ATV? are not settings.
        """
        self.command(self.setLine("#TCPPORT", "23"))
        self.assertEqual(self.command(b"AT&F?"), self.cme(34819))
        self.assertEqual(self.read("#TCPPORT"), self.ok(*self.readLines("#TCPPORT", "23")))



def _parameterTests(name: str) -> Dict[str, Any]:
    """
    The tests of one parameter: power-on value, set and read back, help,
    bad value, the bare form, and the listings.
    """
    sent, shown, bad = SAMPLES[name]
    parameter = PARAMETERS[name]
    key = name[1:]

    def test_default(self: CommandTestsMixin) -> None:
        default = parameter.format(parameter.default)
        self.assertEqual(self.read(name), self.ok(*self.readLines(name, default)))

    def test_set(self: CommandTestsMixin) -> None:
        self.assertEqual(self.command(self.setLine(name, sent)), self.ok())
        self.assertEqual(self.read(name), self.ok(*self.readLines(name, shown)))

    def test_help(self: CommandTestsMixin) -> None:
        self.assertEqual(
            self.command(b"AT" + name.encode("ascii") + b"=?"), self.ok(self.helpLine(name))
        )

    def test_badValue(self: CommandTestsMixin) -> None:
        self.assertEqual(self.command(self.setLine(name, bad)), self.cme(34882))
        default = parameter.format(parameter.default)
        self.assertEqual(self.read(name), self.ok(*self.readLines(name, default)))

    def test_bare(self: CommandTestsMixin) -> None:
        if name in COMMANDS and "a" in COMMANDS[name].forms:
            # Also a command (AT#BODY1 types the value): ESC leaves it as it was.
            self.assertEqual(self.send(b"AT" + name.encode("ascii") + b"\r\x1b"), self.ok())
            self.assertEqual(self.read(name), self.ok(*self.readLines(name, '""')))
            return
        self.assertEqual(self.command(b"AT" + name.encode("ascii")), self.cme(34819))

    def test_listed(self: CommandTestsMixin) -> None:
        self.command(self.setLine(name, sent))
        line = self.info("%s: %s" % (name, shown))
        self.assertIn(line, self.command(b"AT#VALL"))
        if parameter.listing is not None:
            self.assertIn(line, self.command(b"AT" + parameter.listing.encode("ascii")))
        if parameter.listing != "#VTCP":
            self.assertNotIn(name.encode("ascii") + b":", self.command(b"AT#VTCP"))

    test_default.__doc__ = "AT%s? reads its power-on default." % (name,)
    test_set.__doc__ = "AT%s=%s answers OK and reads back as %s." % (name, sent, shown)
    test_help.__doc__ = "AT%s=? shows the allowed values %s." % (name, parameter.allowed)
    test_badValue.__doc__ = (
        "AT%s with a value it does not allow answers 34882 and changes nothing." % (name,)
    )
    test_bare.__doc__ = "AT%s with neither = nor ? answers 34819." % (name,)
    test_listed.__doc__ = (
        "AT#VALL and its group's listing show %s once set, AT#VTCP only if it is a TCP parameter."
        % (name,)
    )
    return {
        "test_%s_default" % (key,): test_default,
        "test_%s_set" % (key,): test_set,
        "test_%s_help" % (key,): test_help,
        "test_%s_badValue" % (key,): test_badValue,
        "test_%s_bare" % (key,): test_bare,
        "test_%s_listed" % (key,): test_listed,
    }


for _name in PARAMETERS:
    for _testName, _test in _parameterTests(_name).items():
        assert not hasattr(CommandTestsMixin, _testName), _testName
        _test.__name__ = _testName
        setattr(CommandTestsMixin, _testName, _test)
del _name, _testName, _test


class CommandTests(CommandTestsMixin, SynchronousTestCase):
    """
    The commands in the C{w302} dialect with verbose result codes.
    """


class CommandNumericTests(CommandTestsMixin, SynchronousTestCase):
    """
    The commands in the C{w302} dialect with numeric result codes.
    """

    verbose = False


class UniversalCommandTests(CommandTestsMixin, SynchronousTestCase):
    """
    The commands in the C{universal-ip} dialect with verbose result codes.
    """

    dialect = "universal-ip"


class UniversalCommandNumericTests(CommandTestsMixin, SynchronousTestCase):
    """
    The commands in the C{universal-ip} dialect with numeric result codes.
    """

    dialect = "universal-ip"
    verbose = False


class W302DialectTestsMixin(ModemDriver):
    """
    The parameter syntax of the C{w302} dialect (see the README).
    """

    def test_setPlain(self) -> None:
        """
        AT#TCPPORT=23 sets and AT#TCPPORT? reads #TCPPORT: 23.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=23"), self.ok())
        self.assertEqual(self.command(b"AT#TCPPORT?"), self.ok("#TCPPORT: 23"))

    def test_setQuoted(self) -> None:
        """
        AT#TCPPORT="23" sets the port too.
        """
        self.assertEqual(self.command(b'AT#TCPPORT="23"'), self.ok())
        self.assertEqual(self.command(b"AT#TCPPORT?"), self.ok("#TCPPORT: 23"))

    def test_setProfile1(self) -> None:
        """
        AT#TCPPORT=1,"23" sets profile 1, which the plain read shows.
        """
        self.assertEqual(self.command(b'AT#TCPPORT=1,"23"'), self.ok())
        self.assertEqual(self.command(b"AT#TCPPORT?"), self.ok("#TCPPORT: 23"))

    def test_setProfile2(self) -> None:
        """
        AT#TCPPORT=2,"24" sets profile 2 and leaves profile 1 alone.
        """
        self.assertEqual(self.command(b'AT#TCPPORT=2,"24"'), self.ok())
        self.assertEqual(self.command(b"AT#TCPPORT?"), self.ok("#TCPPORT: 0"))
        self.assertIn(self.info("#TCPPORT: 24"), self.command(b"AT#VTCP=2"))

    def test_oneArgumentSets(self) -> None:
        """
        AT#TCPPORT=1 sets the port to 1 (it is not a read in this dialect).
        """
        self.assertEqual(self.command(b"AT#TCPPORT=1"), self.ok())
        self.assertEqual(self.command(b"AT#TCPPORT?"), self.ok("#TCPPORT: 1"))

    def test_stringReadQuoted(self) -> None:
        """
        Strings set without quotes are read back in quotes.
        """
        self.assertEqual(self.command(b"AT#TCPSERV=10.0.0.1"), self.ok())
        self.assertEqual(self.command(b"AT#TCPSERV?"), self.ok('#TCPSERV: "10.0.0.1"'))

    def test_specLine(self) -> None:
        """
        AT#TCPPORT=23;#DLEMODE=1 sets both.
        """
        self.command(b"AT#DLEMODE=0")
        self.assertEqual(self.command(b"AT#TCPPORT=23;#DLEMODE=1"), self.ok())
        self.assertEqual(
            self.command(b"AT#TCPPORT?;#DLEMODE?"), self.ok("#TCPPORT: 23", "#DLEMODE: 1")
        )

    def test_help(self) -> None:
        """
        AT#TCPPORT=? shows the range without a profile id.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=?"), self.ok("#TCPPORT: (0-65535)"))

    def test_badProfileId(self) -> None:
        """
        AT#TCPPORT=3,"23" answers 34882.
        """
        self.assertEqual(self.command(b'AT#TCPPORT=3,"23"'), self.cme(34882))

    def test_tooManyArguments(self) -> None:
        """
        AT#TCPPORT=1,2,3 answers 34819.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=1,2,3"), self.cme(34819))


class UniversalDialectTestsMixin(ModemDriver):
    """
    The parameter syntax of the C{universal-ip} dialect (see the README).
    """

    dialect = "universal-ip"

    def test_setProfile1(self) -> None:
        """
        AT#TCPPORT=1,"23" sets profile 1 and AT#TCPPORT=1 reads it.
        """
        self.assertEqual(self.command(b'AT#TCPPORT=1,"23"'), self.ok())
        self.assertEqual(self.command(b"AT#TCPPORT=1"), self.ok("#TCPPORT: 1,23"))

    def test_setProfile2(self) -> None:
        """
        AT#TCPPORT=2,"24" sets profile 2 and AT#TCPPORT=2 reads it; profile 1 is unchanged.
        """
        self.assertEqual(self.command(b'AT#TCPPORT=2,"24"'), self.ok())
        self.assertEqual(self.command(b"AT#TCPPORT=2"), self.ok("#TCPPORT: 2,24"))
        self.assertEqual(self.command(b"AT#TCPPORT=1"), self.ok("#TCPPORT: 1,0"))

    def test_setUnquoted(self) -> None:
        """
        AT#TCPPORT=1,23 sets profile 1 too.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=1,23"), self.ok())
        self.assertEqual(self.command(b"AT#TCPPORT=1"), self.ok("#TCPPORT: 1,23"))

    def test_readBoth(self) -> None:
        """
        AT#TCPPORT? reads both profiles, one line each.
        """
        self.command(b'AT#TCPPORT=1,"23"')
        self.command(b'AT#TCPPORT=2,"24"')
        self.assertEqual(
            self.command(b"AT#TCPPORT?"), self.ok("#TCPPORT: 1,23", "#TCPPORT: 2,24")
        )

    def test_stringReadQuoted(self) -> None:
        """
        AT#TCPSERV=1 reads the string in quotes after the profile id.
        """
        self.command(b'AT#TCPSERV=1,"10.0.0.1"')
        self.assertEqual(self.command(b"AT#TCPSERV=1"), self.ok('#TCPSERV: 1,"10.0.0.1"'))

    def test_specLine(self) -> None:
        """
        AT#TCPPORT=1,"23";#DLEMODE=1,"0" sets both in profile 1.
        """
        self.assertEqual(self.command(b'AT#TCPPORT=1,"23";#DLEMODE=1,"0"'), self.ok())
        self.assertEqual(
            self.command(b"AT#TCPPORT=1;#DLEMODE=1"), self.ok("#TCPPORT: 1,23", "#DLEMODE: 1,0")
        )

    def test_help(self) -> None:
        """
        AT#TCPPORT=? shows the profile ids and the range.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=?"), self.ok("#TCPPORT: (1-2),(0-65535)"))

    def test_badProfileId(self) -> None:
        """
        A profile id other than 1 or 2 answers 34882, to read or to set.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=3"), self.cme(34882))
        self.assertEqual(self.command(b'AT#TCPPORT=3,"23"'), self.cme(34882))

    def test_sharedPlain(self) -> None:
        """
        The shared GPRS parameters keep the plain form: AT#APNSERV="x" sets, ? reads one line.
        """
        self.assertEqual(self.command(b'AT#APNSERV="internet"'), self.ok())
        self.assertEqual(self.command(b"AT#APNSERV?"), self.ok('#APNSERV: "internet"'))


class W302DialectTests(W302DialectTestsMixin, SynchronousTestCase):
    """
    The C{w302} syntax with verbose result codes.
    """


class W302DialectNumericTests(W302DialectTestsMixin, SynchronousTestCase):
    """
    The C{w302} syntax with numeric result codes.
    """

    verbose = False


class UniversalDialectTests(UniversalDialectTestsMixin, SynchronousTestCase):
    """
    The C{universal-ip} syntax with verbose result codes.
    """


class UniversalDialectNumericTests(UniversalDialectTestsMixin, SynchronousTestCase):
    """
    The C{universal-ip} syntax with numeric result codes.
    """

    verbose = False


class NumericResultTests(ModemDriver, SynchronousTestCase):
    """
    The numbers of the result codes with ATV0.
    """

    verbose = False

    def test_numbers(self) -> None:
        """
        The result codes are numbered 0, 4, 1025, 1028, 3072, 3073, 3074 and 3086.
        """
        self.assertEqual(
            RESULT_CODES,
            {
                "OK": 0,
                "ERROR": 4,
                "Ok_Info_DataBegin": 1025,
                "Ok_Info_NoMail": 3072,
                "Ok_Info_Mail": 3073,
                "Ok_Info_WaitingForData": 1028,
                "Ok_Info_SocketClosed": 3074,
                "Ok_Info_GprsActivation": 3086,
            },
        )

    def test_sessionNumbers(self) -> None:
        """
        A session reads 0, 1028, then 3074 and 0 when the peer closes.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=2000;#LTCPSTART"), b"0\r")
        protocol, peerTransport = self.admit()
        self.assertEqual(self.written(), b"1028\r")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), b"\x033074\r0\r")

    def test_gprsActivation(self) -> None:
        """
        AT#CONNECTIONSTART reads 3086 then the address line.
        """
        self.assertEqual(self.command(b"AT#CONNECTIONSTART"), b"3086\r0.0.0.0\r\n")

    def test_error(self) -> None:
        """
        A plain error reads 4.
        """
        self.command(b"AT+CMEE=0")
        self.assertEqual(self.command(b"AT+NOSUCH"), b"4\r")


class DialerErrorCodeTests(SynchronousTestCase):
    """
    Tests for L{tcpbridge.modem.errorCode}: which CME error a failed
    C{AT#OTCP} answers.
    """

    def test_dnsLookup(self) -> None:
        """
        A failed name lookup is 38027.
        """
        self.assertEqual(errorCode(Failure(DNSLookupError("nowhere.invalid"))), 38027)

    def test_refused(self) -> None:
        """
        A refused connection is 38016.
        """
        self.assertEqual(errorCode(Failure(ConnectionRefusedError())), 38016)

    def test_timeout(self) -> None:
        """
        A timed-out connection is 38016.
        """
        self.assertEqual(errorCode(Failure(TimeoutError())), 38016)

    def test_cancelled(self) -> None:
        """
        A connection the host cancelled has no error code.
        """
        self.assertIsNone(errorCode(Failure(CancelledError())))


class CoverageTests(SynchronousTestCase):
    """
    The tables the tests above are driven by cover every command and
    parameter of the modem.
    """

    def test_everyParameterSampled(self) -> None:
        """
        SAMPLES has a good and a bad value for every parameter of PARAMETERS.
        """
        self.assertEqual(sorted(SAMPLES), sorted(PARAMETERS))

    def test_everyParameterTested(self) -> None:
        """
        CommandTests has the six generated tests of every parameter.
        """
        for name in PARAMETERS:
            for form in ("default", "set", "help", "badValue", "bare", "listed"):
                self.assertTrue(
                    hasattr(CommandTests, "test_%s_%s" % (name[1:], form)), (name, form)
                )

    def test_everyCommandHasHandler(self) -> None:
        """
        Every command of COMMANDS names a method of the service that owns it.
        """
        for name, (method, forms, helpText) in COMMANDS.items():
            self.assertTrue(callable(getattr(OWNERS[name], method, None)), (name, method))
