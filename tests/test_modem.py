"""
Tests for L{tcpbridge.modem}: the modem as the host sees it on the serial
line, in command mode, while listening and in data mode, driven through a
memory reactor and string transports.
"""

import ipaddress
from typing import Optional, Tuple

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError, ConnectionDone, ConnectionLost
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock, RaisingMemoryReactor, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.modemside import SerialSide
from tcpbridge import session as sessionModule
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import DATA, IDLE, LISTENING, Modem

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
WAITING = b"\r\nOk_Info_WaitingForData\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n"


def cme(code: int) -> bytes:
    """
    The verbose C{#CME ERROR} line for C{code}.
    """
    return b"\r\n#CME ERROR: %d\r\n" % (code,)


class ModemTests(SerialSide, SynchronousTestCase):
    """
    Tests for L{Modem}.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.makeModem(BridgeConfig())

    def makeModem(self, config: BridgeConfig, reactor: object = None) -> None:
        """
        Make the modem under test, on a fresh serial transport.
        """
        if reactor is not None:
            self.reactor = reactor
        self.modem = Modem(config, self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)

    def silent(self) -> None:
        """
        Turn echo off and numbered errors on, as the tests of answers want.
        """
        self.command(b"ATE0")
        self.command(b"AT+CMEE=1")

    def listen(self, port: int = 2000) -> Tuple[int, object]:
        """
        Set TCPPORT and start listening; return the port and factory the reactor was given.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=%d" % (port,)), OK)
        self.assertEqual(self.command(b"AT#LTCPSTART"), OK)
        self.assertEqual(self.modem.state, LISTENING)
        boundPort, factory, backlog, interface = self.reactor.tcpServers[-1]
        return boundPort, factory

    def listenNumeric(self) -> None:
        """
        Start listening on port 2000 with numeric result codes.
        """
        self.assertEqual(self.command(b"AT#TCPPORT=2000"), b"0\r")
        self.assertEqual(self.command(b"AT#LTCPSTART"), b"0\r")

    def recordStops(self) -> list:
        """
        Record calls to the listening port's C{stopListening}.
        """
        calls: list = []
        port = self.modem.services["tcp"].listener.port
        original = port.stopListening

        def stopListening() -> object:
            calls.append(port)
            return original()

        port.stopListening = stopListening
        return calls

    def connect(self, host: str = "127.0.0.1") -> Tuple[Optional[Protocol], StringTransport]:
        """
        A peer at C{host} connects to the listening port.

        @return: the protocol the factory built (or L{None}) and the peer's transport.
        """
        factory = self.reactor.tcpServers[-1][1]
        address = IPv4Address("TCP", host, 5000)
        peerTransport = StringTransport(peerAddress=address)
        protocol = factory.buildProtocol(address)
        if protocol is not None:
            protocol.makeConnection(peerTransport)
        return protocol, peerTransport

    def session(self, dleMode: int = 1, echo: bool = False) -> Tuple[Protocol, StringTransport]:
        """
        Listen, admit a peer, and check the host is told; return the peer's side.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#DLEMODE=%d" % (dleMode,)), OK)
        self.listen()
        if echo:
            self.assertEqual(self.command(b"ATE1"), OK)
        protocol, peerTransport = self.connect()
        self.assertIsNotNone(protocol)
        self.assertEqual(self.written(), WAITING)
        self.assertEqual(self.modem.state, DATA)
        return protocol, peerTransport

    # -- command mode ------------------------------------------------------

    def test_echoByDefault(self) -> None:
        """
        At power-on the modem echoes the line and answers OK in verbose form.
        """
        self.assertEqual(self.send(b"AT\r"), b"AT\r" + OK)

    def test_echoCharacterByCharacter(self) -> None:
        """
        Each character is echoed as it arrives, the answer only after CR.
        """
        self.assertEqual(self.send(b"A"), b"A")
        self.assertEqual(self.send(b"T"), b"T")
        self.assertEqual(self.send(b"\r"), b"\r" + OK)

    def test_echoOff(self) -> None:
        """
        ATE0 turns echo off from the next line on.
        """
        self.assertEqual(self.command(b"ATE0"), b"ATE0\r" + OK)
        self.assertEqual(self.command(b"AT"), OK)
        self.assertEqual(self.command(b"ATE1"), OK)
        self.assertEqual(self.command(b"AT"), b"AT\r" + OK)

    def test_lowercase(self) -> None:
        """
        The AT prefix and the commands may be in lower case.
        """
        self.command(b"ate0")
        self.assertEqual(self.command(b"at#tcpport=23"), OK)
        self.assertEqual(self.command(b"aT#TcpPort?"), b"\r\n#TCPPORT: 23\r\n" + OK)

    def test_numericResults(self) -> None:
        """
        After ATV0 result codes are numbers ended by CR, information lines end in CR LF.
        """
        self.assertEqual(self.command(b"ATE0V0"), b"ATE0V0\r0\r")
        self.assertEqual(self.command(b"AT"), b"0\r")
        self.assertEqual(self.command(b"AT+NOSUCH"), b"4\r")
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"#TCPPORT: 0\r\n0\r")
        self.assertEqual(self.command(b"ATV1"), OK)

    def test_quiet(self) -> None:
        """
        ATQ1 suppresses result codes, errors included, but not information lines.
        """
        self.command(b"ATE0")
        self.assertEqual(self.command(b"ATQ1"), b"")
        self.assertEqual(self.command(b"AT"), b"")
        self.assertEqual(self.command(b"AT+NOSUCH"), b"")
        self.assertEqual(self.command(b"AT#DLEMODE?"), b"\r\n#DLEMODE: 1\r\n")
        self.assertEqual(self.command(b"ATQ0"), OK)

    def test_errorByDefault(self) -> None:
        """
        Without AT+CMEE=1 every error is a plain ERROR.
        """
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT+NOSUCH"), ERROR)
        self.assertEqual(self.command(b"AT#DLEMODE=5"), ERROR)

    def test_cmeeUnknownCommand(self) -> None:
        """
        After AT+CMEE=1 an unknown command answers CME error 34817.
        """
        self.silent()
        self.assertEqual(self.command(b"AT+NOSUCH"), cme(34817))
        self.assertEqual(self.command(b"ATX"), cme(34817))

    def test_cmeeSyntax(self) -> None:
        """
        After AT+CMEE=1 a malformed line answers CME error 34819.
        """
        self.silent()
        self.assertEqual(self.command(b'AT#TCPSERV="10.0.0.1'), cme(34819))
        self.assertEqual(self.command(b"AT#DLEMODE"), cme(34819))

    def test_cmeeBadValue(self) -> None:
        """
        After AT+CMEE=1 a value out of range answers CME error 34882 and changes nothing.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#DLEMODE=5"), cme(34882))
        self.assertEqual(self.command(b"AT#TCPPORT=65536"), cme(34882))
        self.assertEqual(self.command(b"AT#TCPTXDELAY=30"), cme(34882))
        self.assertEqual(self.command(b"AT#DLEMODE?"), b"\r\n#DLEMODE: 1\r\n" + OK)

    def test_cmeeReadAndOff(self) -> None:
        """
        AT+CMEE? reads the setting and AT+CMEE=0 goes back to plain ERROR.
        """
        self.silent()
        self.assertEqual(self.command(b"AT+CMEE?"), b"\r\n+CMEE: 1\r\n" + OK)
        self.assertEqual(self.command(b"AT+CMEE=0"), OK)
        self.assertEqual(self.command(b"AT+NOSUCH"), ERROR)

    def test_lineTooLong(self) -> None:
        """
        A line longer than 1024 characters is discarded with 34881, and the modem answers AT after.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPPORT=23" + b" " * 1100), cme(34881))
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 0\r\n" + OK)
        self.assertEqual(self.command(b"AT"), OK)
        self.assertIs(self.transport.disconnecting, False)

    def test_lineAtLimit(self) -> None:
        """
        A line of exactly 1024 characters is accepted; one more is too long.
        """
        self.silent()
        self.assertEqual(self.command(b"AT" + b" " * 1022), OK)
        self.assertEqual(self.command(b"AT" + b" " * 1023), cme(34881))

    def test_lineTooLongEchoed(self) -> None:
        """
        With echo on, an overlong line is still echoed in full before its error.
        """
        line = b"AT" + b"E" * 1100
        self.assertEqual(self.command(line), line + b"\r" + ERROR)
        self.assertEqual(self.command(b"AT"), b"AT\r" + OK)

    def test_backspace(self) -> None:
        """
        Backspace deletes the last character of the line and is echoed.
        """
        self.assertEqual(
            self.command(b"AT#TCPPORT=99\x08\x0823"), b"AT#TCPPORT=99\x08\x0823\r" + OK
        )
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 23\r\n" + OK)

    def test_backspaceOnEmptyLine(self) -> None:
        """
        Backspace on an empty line deletes nothing.
        """
        self.command(b"ATE0")
        self.assertEqual(self.command(b"\x08\x08AT"), OK)

    def test_repeatLastLine(self) -> None:
        """
        A/ runs the previous command line again at once, without CR.
        """
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 0\r\n" + OK)
        self.assertEqual(self.send(b"A/"), b"\r\n#TCPPORT: 0\r\n" + OK)
        self.assertEqual(self.send(b"a/"), b"\r\n#TCPPORT: 0\r\n" + OK)

    def test_repeatLastLineEchoed(self) -> None:
        """
        With echo on, A/ is echoed and then the previous line's answer follows.
        """
        self.command(b"AT#DLEMODE?")
        self.assertEqual(self.send(b"A/"), b"A/\r\n#DLEMODE: 1\r\n" + OK)

    def test_repeatNothing(self) -> None:
        """
        A/ before any command line answers nothing.
        """
        self.assertEqual(self.send(b"A/"), b"A/")
        self.assertEqual(self.send(b"\r"), b"\r")

    def test_lineFeedIgnored(self) -> None:
        """
        LF after CR is ignored and not echoed.
        """
        self.assertEqual(self.send(b"AT\r\nAT\r\n"), b"AT\r" + OK + b"AT\r" + OK)

    def test_notAT(self) -> None:
        """
        A line not starting with AT is an error.
        """
        self.command(b"ATE0")
        self.assertEqual(self.command(b"XYZ"), ERROR)
        self.command(b"AT+CMEE=1")
        self.assertEqual(self.command(b"A"), cme(34819))
        self.assertEqual(self.command(b"#TCPPORT=23"), cme(34819))

    def test_emptyLine(self) -> None:
        """
        An empty line (only CR) is echoed and answered with nothing.
        """
        self.assertEqual(self.send(b"\r"), b"\r")
        self.assertEqual(self.send(b"  \r"), b"  \r")

    def test_bareETXIdleIgnored(self) -> None:
        """
        A bare ETX in command mode with nothing listening is ignored.
        """
        self.assertEqual(self.send(b"\x03\x03\x03"), b"")
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.send(b"AT\r"), b"AT\r" + OK)

    def test_sRegisters(self) -> None:
        """
        ATS3? and ATS5? read the line-end and backspace characters as three digits.
        """
        self.command(b"ATE0")
        self.assertEqual(self.command(b"ATS3?"), b"\r\n013\r\n" + OK)
        self.assertEqual(self.command(b"ATS5?"), b"\r\n008\r\n" + OK)

    def test_identify(self) -> None:
        """
        ATI shows the configured identity.
        """
        self.makeModem(BridgeConfig(identity="Acme modem"))
        self.command(b"ATE0")
        self.assertEqual(self.command(b"ATI"), b"\r\nAcme modem\r\n" + OK)

    def test_vstate(self) -> None:
        """
        AT#VSTATE shows IDLE in command mode.
        """
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#VSTATE"), b'\r\n#STATE: "IDLE"\r\n' + OK)

    def test_reset(self) -> None:
        """
        ATZ returns parameters, echo and result settings to their power-on values.
        """
        self.silent()
        self.command(b"AT#TCPPORT=23")
        self.assertEqual(self.command(b"ATZ"), OK)
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"AT#TCPPORT?\r\r\n#TCPPORT: 0\r\n" + OK)

    def test_configuredParameters(self) -> None:
        """
        Parameter values from the configuration are the power-on values.
        """
        self.makeModem(BridgeConfig(parameters={"tcpport": 2323, "tcpserv": "10.0.0.9"}))
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 2323\r\n" + OK)
        self.assertEqual(self.command(b"AT#TCPSERV?"), b'\r\n#TCPSERV: "10.0.0.9"\r\n' + OK)

    # -- parameters --------------------------------------------------------

    def test_tcpservForms(self) -> None:
        """
        TCPSERV is set by =v, ="v" and =1,"v", and read back in quotes.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPSERV?"), b'\r\n#TCPSERV: "255.255.255.255"\r\n' + OK)
        self.assertEqual(self.command(b"AT#TCPSERV=10.0.0.1"), OK)
        self.assertEqual(self.command(b"AT#TCPSERV?"), b'\r\n#TCPSERV: "10.0.0.1"\r\n' + OK)
        self.assertEqual(self.command(b'AT#TCPSERV="10.0.0.2"'), OK)
        self.assertEqual(self.command(b"AT#TCPSERV?"), b'\r\n#TCPSERV: "10.0.0.2"\r\n' + OK)
        self.assertEqual(self.command(b'AT#TCPSERV=1,"host.example.com"'), OK)
        self.assertEqual(
            self.command(b"AT#TCPSERV?"), b'\r\n#TCPSERV: "host.example.com"\r\n' + OK
        )
        self.assertEqual(self.command(b'AT#TCPSERV="bad host!"'), cme(34882))

    def test_tcpservTest(self) -> None:
        """
        AT#TCPSERV=? shows the allowed values.
        """
        self.silent()
        self.assertEqual(
            self.command(b"AT#TCPSERV=?"),
            b'\r\n#TCPSERV: "<IPv4 address or host name, up to 120 characters>"\r\n' + OK,
        )

    def test_tcpportForms(self) -> None:
        """
        TCPPORT is set by =v, ="v" and =1,"v", read by ?, and =? shows its range.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 0\r\n" + OK)
        self.assertEqual(self.command(b"AT#TCPPORT=23"), OK)
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 23\r\n" + OK)
        self.assertEqual(self.command(b'AT#TCPPORT="24"'), OK)
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 24\r\n" + OK)
        self.assertEqual(self.command(b'AT#TCPPORT=1,"25"'), OK)
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 25\r\n" + OK)
        self.assertEqual(self.command(b"AT#TCPPORT=?"), b"\r\n#TCPPORT: (0-65535)\r\n" + OK)

    def test_dlemodeForms(self) -> None:
        """
        DLEMODE is set by =v, ="v" and =1,"v", read by ?, and =? shows 0-1.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#DLEMODE=0"), OK)
        self.assertEqual(self.command(b"AT#DLEMODE?"), b"\r\n#DLEMODE: 0\r\n" + OK)
        self.assertEqual(self.command(b'AT#DLEMODE="1"'), OK)
        self.assertEqual(self.command(b"AT#DLEMODE?"), b"\r\n#DLEMODE: 1\r\n" + OK)
        self.assertEqual(self.command(b'AT#DLEMODE=1,"0"'), OK)
        self.assertEqual(self.command(b"AT#DLEMODE?"), b"\r\n#DLEMODE: 0\r\n" + OK)
        self.assertEqual(self.command(b"AT#DLEMODE=?"), b"\r\n#DLEMODE: (0-1)\r\n" + OK)

    def test_secondProfile(self) -> None:
        """
        =2,"v" sets profile 2 and leaves profile 1, which the plain read shows, alone.
        """
        self.silent()
        self.assertEqual(self.command(b'AT#TCPPORT=2,"99"'), OK)
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 0\r\n" + OK)
        self.assertEqual(self.command(b"AT#LTCPSTART=2"), OK)
        self.assertEqual(self.reactor.tcpServers[0][0], 99)

    def test_badProfileId(self) -> None:
        """
        A profile id other than 1 or 2 is a bad value.
        """
        self.silent()
        self.assertEqual(self.command(b'AT#TCPPORT=3,"23"'), cme(34882))

    def test_tooManyArguments(self) -> None:
        """
        Three arguments to a parameter are a syntax error.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPPORT=1,2,3"), cme(34819))

    def test_severalOnOneLine(self) -> None:
        """
        Several parameters set on one line all take effect, with one OK.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPPORT=23;#DLEMODE=0"), OK)
        self.assertEqual(
            self.command(b"AT#TCPPORT?;#DLEMODE?"),
            b"\r\n#TCPPORT: 23\r\n\r\n#DLEMODE: 0\r\n" + OK,
        )

    def test_lineStopsAtFirstError(self) -> None:
        """
        A line stops at its first error: the commands before it ran, those after it did not.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPPORT=23;#DLEMODE=9;#TCPPORT=24"), cme(34882))
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 23\r\n" + OK)

    def test_lineStopsAtSyntaxError(self) -> None:
        """
        The commands before a syntax error run; the error is answered instead of OK.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPPORT=23;#DLEMODE:1"), cme(34819))
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 23\r\n" + OK)

    def test_vtcp(self) -> None:
        """
        AT#VTCP lists every TCP parameter, one line each, then OK.
        """
        self.silent()
        self.assertEqual(
            self.command(b"AT#VTCP"),
            b'\r\n#TCPSERV: "255.255.255.255"\r\n'
            b"\r\n#TCPPORT: 0\r\n"
            b"\r\n#DLEMODE: 1\r\n"
            b"\r\n#TCPTXDELAY: 100\r\n"
            b"\r\n#OUTPORT: 0\r\n" + OK,
        )

    # -- listening -----------------------------------------------------------

    def test_ltcpstartWithoutPort(self) -> None:
        """
        AT#LTCPSTART with TCPPORT 0 is a bad value and binds nothing.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#LTCPSTART"), cme(34882))
        self.assertEqual(self.reactor.tcpServers, [])
        self.assertEqual(self.modem.state, IDLE)

    def test_ltcpstartHostName(self) -> None:
        """
        AT#LTCPSTART with a host name in TCPSERV is a bad value: listening needs dotted decimal.
        """
        self.silent()
        self.command(b'AT#TCPPORT=2000;#TCPSERV="peer.example.com"')
        self.assertEqual(self.command(b"AT#LTCPSTART"), cme(34882))
        self.assertEqual(self.reactor.tcpServers, [])

    def test_ltcpstart(self) -> None:
        """
        AT#LTCPSTART binds TCPPORT on the configured interface, then answers OK.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPPORT=2000"), OK)
        self.assertEqual(self.command(b"AT#LTCPSTART"), OK)
        self.assertEqual(len(self.reactor.tcpServers), 1)
        port, factory, backlog, interface = self.reactor.tcpServers[0]
        self.assertEqual((port, interface), (2000, "0.0.0.0"))
        self.assertEqual(self.modem.state, LISTENING)

    def test_ltcpstartProfileId(self) -> None:
        """
        AT#LTCPSTART=2 listens on the TCPPORT of profile 2.
        """
        self.silent()
        self.command(b'AT#TCPPORT=2,"2002"')
        self.assertEqual(self.command(b"AT#LTCPSTART=2"), OK)
        self.assertEqual(self.reactor.tcpServers[0][0], 2002)

    def test_ltcpstartInterface(self) -> None:
        """
        The listening socket binds the interface given in the configuration.
        """
        self.makeModem(BridgeConfig(interface="127.0.0.1"))
        self.silent()
        self.listen()
        self.assertEqual(self.reactor.tcpServers[0][3], "127.0.0.1")

    def test_ltcpstartTwice(self) -> None:
        """
        A second AT#LTCPSTART while listening answers 37123 and binds nothing more.
        """
        self.silent()
        self.listen()
        self.assertEqual(self.command(b"AT#LTCPSTART"), cme(37123))
        self.assertEqual(len(self.reactor.tcpServers), 1)

    def test_ltcpstartBindFailure(self) -> None:
        """
        A bind failure answers 38016 and leaves the modem idle.
        """
        failing = RaisingMemoryReactor(listenException=CannotListenError("", 2000, OSError()))
        self.makeModem(BridgeConfig(), failing)
        self.silent()
        self.command(b"AT#TCPPORT=2000")
        self.assertEqual(self.command(b"AT#LTCPSTART"), cme(38016))
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.command(b"AT#TCPPORT=2001"), OK)
        self.flushLoggedErrors()

    def test_ltcpstop(self) -> None:
        """
        AT#LTCPSTOP stops the listening port and answers OK.
        """
        self.silent()
        self.listen()
        stops = self.recordStops()
        self.assertEqual(self.command(b"AT#LTCPSTOP"), OK)
        self.assertEqual(len(stops), 1)
        self.assertEqual(self.modem.state, IDLE)
        self.assertIsNone(self.modem.services["tcp"].listener)

    def test_ltcpstopIdle(self) -> None:
        """
        AT#LTCPSTOP when nothing is listening answers OK.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#LTCPSTOP"), OK)

    def test_ltcpstopWaits(self) -> None:
        """
        OK for AT#LTCPSTOP waits for the port to close; the commands after it wait too.
        """
        self.silent()
        self.listen()
        stopped: Deferred = Deferred()
        self.modem.services["tcp"].listener.port.stopListening = lambda: stopped
        self.assertEqual(self.send(b"AT#LTCPSTOP\rAT#TCPPORT?\r"), b"")
        stopped.callback(None)
        self.assertEqual(self.written(), OK + b"\r\n#TCPPORT: 2000\r\n" + OK)

    def test_bareETXStopsListening(self) -> None:
        """
        A bare ETX while listening stops the listening port, as AT#LTCPSTOP does.
        """
        self.silent()
        self.listen()
        stops = self.recordStops()
        self.assertEqual(self.send(b"\x03"), OK)
        self.assertEqual(len(stops), 1)
        self.assertEqual(self.modem.state, IDLE)

    def test_commandsWhileListening(self) -> None:
        """
        While listening the line stays in command mode and reads work.
        """
        self.silent()
        self.listen()
        self.assertEqual(self.command(b"AT"), OK)
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 2000\r\n" + OK)

    def test_changeWhileListening(self) -> None:
        """
        Changing a parameter of the listening profile answers 37123 and changes nothing.
        """
        self.silent()
        self.listen()
        self.assertEqual(self.command(b"AT#TCPPORT=2001"), cme(37123))
        self.assertEqual(self.command(b"AT#DLEMODE=0"), cme(37123))
        self.assertEqual(self.command(b"AT#TCPPORT?"), b"\r\n#TCPPORT: 2000\r\n" + OK)

    def test_changeOtherProfileWhileListening(self) -> None:
        """
        The other profile's parameters may be changed while profile 1 listens.
        """
        self.silent()
        self.listen()
        self.assertEqual(self.command(b'AT#TCPPORT=2,"2001"'), OK)

    def test_resetWhileListening(self) -> None:
        """
        ATZ while listening answers 37123.
        """
        self.silent()
        self.listen()
        self.assertEqual(self.command(b"ATZ"), cme(37123))

    def test_changeAfterStop(self) -> None:
        """
        After AT#LTCPSTOP parameters may be changed again.
        """
        self.silent()
        self.listen()
        self.command(b"AT#LTCPSTOP")
        self.assertEqual(self.command(b"AT#TCPPORT=2001"), OK)

    # -- admission -----------------------------------------------------------

    def test_disallowedAddress(self) -> None:
        """
        A peer TCPSERV does not allow gets no protocol, the host sees nothing, listening goes on.
        """
        self.silent()
        self.command(b'AT#TCPSERV="10.0.0.1"')
        self.listen()
        protocol, peerTransport = self.connect("127.0.0.1")
        self.assertIsNone(protocol)
        self.assertEqual(self.written(), b"")
        self.assertEqual(peerTransport.value(), b"")
        self.assertEqual(self.modem.state, LISTENING)
        protocol, peerTransport = self.connect("10.0.0.1")
        self.assertIsNotNone(protocol)
        self.assertEqual(self.written(), WAITING)

    def test_allowList(self) -> None:
        """
        A peer outside the configured allow list gets no protocol even with TCPSERV 255.255.255.255.
        """
        self.makeModem(BridgeConfig(allow=[ipaddress.ip_network("192.0.2.0/24")]))
        self.silent()
        self.listen()
        self.assertIsNone(self.connect("127.0.0.1")[0])
        self.assertEqual(self.written(), b"")
        self.assertIsNotNone(self.connect("192.0.2.7")[0])

    # -- data mode -----------------------------------------------------------

    def test_sessionOpens(self) -> None:
        """
        An admitted peer closes the listening port, tells the host, and enters data mode.
        """
        self.silent()
        self.listen()
        stops = self.recordStops()
        protocol, peerTransport = self.connect()
        self.assertEqual(self.written(), WAITING)
        self.assertEqual(self.modem.state, DATA)
        self.assertEqual(len(stops), 1)
        self.assertIsNone(self.modem.services["tcp"].listener)

    def test_sessionNumeric(self) -> None:
        """
        With ATV0 the host is told of the session by the number 1028.
        """
        self.silent()
        self.command(b"ATV0")
        self.listenNumeric()
        self.connect()
        self.assertEqual(self.written(), b"1028\r")

    def test_secondPeerRefused(self) -> None:
        """
        During a session a second allowed peer gets no protocol and the host sees nothing.
        """
        self.session()
        protocol, peerTransport = self.connect()
        self.assertIsNone(protocol)
        self.assertEqual(self.written(), b"")
        self.assertEqual(self.modem.state, DATA)

    def test_dataBothWaysDLE(self) -> None:
        """
        In DLEMODE 1 peer bytes reach the host DLE-coded, host bytes the peer decoded, no echo.
        """
        protocol, peerTransport = self.session()
        protocol.dataReceived(b"hello\x03\x10")
        self.assertEqual(self.written(), b"hello\x10\x03\x10\x10")
        self.command(b"ATE1")  # not a command in data mode
        self.modem.dataReceived(b"a\x10\x03b\x10")
        self.modem.dataReceived(b"\x10c\x10A")
        self.reactor.advance(1)
        self.assertEqual(peerTransport.value(), b"ATE1\ra\x03b\x10c\x10A")
        self.assertEqual(self.written(), b"")
        self.assertEqual(self.modem.state, DATA)

    def test_dataBothWaysTransparent(self) -> None:
        """
        In DLEMODE 0 both directions are transparent and a host ETX does not close.
        """
        protocol, peerTransport = self.session(dleMode=0)
        protocol.dataReceived(b"x\x03\x10y")
        self.assertEqual(self.written(), b"x\x03\x10y")
        self.modem.dataReceived(b"a\x03b\x10\x03")
        self.reactor.advance(1)
        self.assertEqual(peerTransport.value(), b"a\x03b\x10\x03")
        self.assertFalse(peerTransport.disconnecting)
        self.assertEqual(self.modem.state, DATA)

    def test_hostCloses(self) -> None:
        """
        A host bare ETX sends the bytes before it, closes the peer, and reports once it is gone.
        """
        protocol, peerTransport = self.session()
        self.modem.dataReceived(b"last\x03")
        self.assertEqual(peerTransport.value(), b"last")
        self.assertTrue(peerTransport.disconnecting)
        self.assertEqual(self.written(), b"")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), CLOSED + OK)
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.command(b"AT"), OK)

    def test_hostClosesThenCommand(self) -> None:
        """
        Bytes the host sends after its bare ETX are answered as commands once the session is closed.
        """
        protocol, peerTransport = self.session()
        self.command(b"ATE1")
        self.modem.dataReceived(b"\x03AT\r")
        self.assertEqual(peerTransport.value(), b"ATE1\r")
        self.assertEqual(self.written(), b"")
        self.modem.dataReceived(b"AT#VSTATE\r")
        self.assertEqual(self.written(), b"")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            self.written(),
            CLOSED + OK + b"\r\nOK\r\n" + b'\r\n#STATE: "IDLE"\r\n' + OK,
        )

    def test_hostClosesEchoAfter(self) -> None:
        """
        With echo on, the command bytes after the bare ETX are echoed after the close report.
        """
        protocol, peerTransport = self.session(echo=True)
        self.modem.dataReceived(b"\x03AT\r")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), CLOSED + OK + b"AT\r" + OK)

    def test_hostCloseHoldsSerial(self) -> None:
        """
        While the peer connection closes, the serial side is paused; it is resumed after.
        """
        protocol, peerTransport = self.session()
        self.modem.dataReceived(b"\x03")
        self.assertEqual(self.transport.producerState, "paused")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.transport.producerState, "producing")

    def test_hostCloseTimeout(self) -> None:
        """
        A peer that does not close within the time-out after the host's ETX is aborted.
        """
        protocol, peerTransport = self.session()
        self.modem.dataReceived(b"\x03")
        self.reactor.advance(sessionModule.CLOSE_TIMEOUT - 1)
        self.assertFalse(peerTransport.disconnected)
        self.reactor.advance(1)
        self.assertTrue(peerTransport.disconnected)

    def test_hostCloseCancelsTimeout(self) -> None:
        """
        Once the peer is gone, the close time-out is cancelled.
        """
        protocol, peerTransport = self.session()
        self.modem.dataReceived(b"\x03")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_peerClosesDLE(self) -> None:
        """
        In DLEMODE 1 a peer close gives the host its last bytes, an ETX, SocketClosed and OK.
        """
        protocol, peerTransport = self.session()
        protocol.dataReceived(b"bye")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), b"bye\x03" + CLOSED + OK)
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.command(b"AT"), OK)

    def test_peerClosesTransparent(self) -> None:
        """
        In DLEMODE 0, when the peer closes, no ETX comes before SocketClosed and OK.
        """
        protocol, peerTransport = self.session(dleMode=0)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), CLOSED + OK)
        self.assertEqual(self.modem.state, IDLE)

    def test_peerConnectionFails(self) -> None:
        """
        A lost (not cleanly closed) peer connection is reported like a close.
        """
        protocol, peerTransport = self.session()
        protocol.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.written(), b"\x03" + CLOSED + OK)

    def test_peerClosesNumeric(self) -> None:
        """
        With ATV0 the end of a session is reported as 3074 then 0.
        """
        protocol, peerTransport = self.session()
        self.modem.verbose = False
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), b"\x033074\r0\r")

    def test_listenAgain(self) -> None:
        """
        After a session the port is no longer listening and AT#LTCPSTART binds it again.
        """
        protocol, peerTransport = self.session()
        protocol.connectionLost(Failure(ConnectionDone()))
        self.written()
        self.assertIsNone(self.modem.services["tcp"].listener)
        self.assertEqual(self.command(b"AT#TCPPORT=2001"), OK)
        self.assertEqual(self.command(b"AT#LTCPSTART"), OK)
        self.assertEqual(len(self.reactor.tcpServers), 2)
        self.assertEqual(self.reactor.tcpServers[1][0], 2001)

    def test_serialResumedAfterPeerClose(self) -> None:
        """
        A serial side paused by the peer during a session is producing again after the peer closes.
        """
        protocol, peerTransport = self.session()
        peerTransport.producer.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.transport.producerState, "producing")
        self.assertIs(self.transport.producer, self.modem._guard)
        self.assertIsNone(peerTransport.producer)

    def test_serialResumedAfterHostClose(self) -> None:
        """
        A serial side paused by the peer during a session is producing again after the host closes.
        """
        protocol, peerTransport = self.session()
        peerTransport.producer.pauseProducing()
        self.modem.dataReceived(b"\x03")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.transport.producerState, "producing")
        self.assertIs(self.transport.producer, self.modem._guard)

    def test_answersUnreadHoldTheRestOfARead(self) -> None:
        """
        When the host's unread answers fill the serial write buffer in the
        middle of a read, the rest of that read waits: its lines are run,
        in order, once the host has taken the answers.
        """
        self.command(b"ATE0")
        self.written()
        guard = self.modem._guard
        write = self.transport.write

        def filling(data: bytes) -> None:
            # The first answer fills the buffer: the transport pauses us.
            write(data)
            guard.pauseProducing()

        self.transport.write = filling  # type: ignore[method-assign]
        self.modem.dataReceived(b"AT+CMEE?\rAT+CMEE=1\rAT+CMEE?\r")
        self.assertEqual(self.written(), b"\r\n+CMEE: 0\r\n\r\nOK\r\n")
        self.transport.write = write  # type: ignore[method-assign]
        guard.resumeProducing()
        self.assertEqual(self.written(), b"\r\nOK\r\n\r\n+CMEE: 1\r\n\r\nOK\r\n")

    def test_serialLost(self) -> None:
        """
        Losing the serial line during a session closes the peer connection.
        """
        protocol, peerTransport = self.session()
        self.modem.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(peerTransport.disconnecting)
        self.assertIsNone(self.successResultOf(self.modem.lost))

    def test_serialLostWhileListening(self) -> None:
        """
        Losing the serial line while listening stops the listening port.
        """
        self.silent()
        self.listen()
        stops = self.recordStops()
        self.modem.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(stops), 1)
        self.assertEqual(self.modem.state, IDLE)

    # -- TCPTXDELAY -------------------------------------------------------------

    def test_txDelayGathers(self) -> None:
        """
        Host bytes are gathered for TCPTXDELAY (100 ms by default) after the first, then sent.
        """
        protocol, peerTransport = self.session()
        self.modem.dataReceived(b"ab")
        self.reactor.advance(0.05)
        self.modem.dataReceived(b"cd")
        self.assertEqual(peerTransport.value(), b"")
        self.reactor.advance(0.05)
        self.assertEqual(peerTransport.value(), b"abcd")

    def test_txDelayFullSegment(self) -> None:
        """
        A full segment (1460 bytes) leaves at once, without waiting for TCPTXDELAY.
        """
        protocol, peerTransport = self.session()
        self.modem.dataReceived(b"x" * 1500)
        self.assertEqual(len(peerTransport.value()), 1460)
        self.reactor.advance(0.1)
        self.assertEqual(len(peerTransport.value()), 1500)

    def test_txDelayZero(self) -> None:
        """
        With TCPTXDELAY 0 every read from the host is sent at once.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPTXDELAY=0"), OK)
        self.listen()
        protocol, peerTransport = self.connect()
        self.modem.dataReceived(b"now")
        self.assertEqual(peerTransport.value(), b"now")

    def test_hostCloseFlushesGathered(self) -> None:
        """
        Bytes still gathering when the host sends its bare ETX reach the peer before the close.
        """
        protocol, peerTransport = self.session()
        self.modem.dataReceived(b"abc")
        self.modem.dataReceived(b"def\x03")
        self.assertEqual(peerTransport.value(), b"abcdef")
        self.assertTrue(peerTransport.disconnecting)

    # -- malformed input ---------------------------------------------------------

    def test_superscriptDigitValue(self) -> None:
        """
        A parameter value with a superscript digit (latin-1 0xB2) is a bad value, not a crash.
        """
        self.silent()
        self.assertEqual(self.command(b"AT#TCPPORT=\xb2"), cme(34882))
        self.assertEqual(self.command(b"AT"), OK)

    def test_superscriptDigitFlag(self) -> None:
        """
        ATE with a superscript digit (latin-1 0xB2) is a syntax error, not a crash.
        """
        self.silent()
        self.assertEqual(self.command(b"ATE\xb2"), cme(34819))
        self.assertEqual(self.command(b"AT"), OK)

    def test_superscriptDigitRegister(self) -> None:
        """
        ATS with a superscript register number (latin-1 0xB2) is a syntax error, not a crash.
        """
        self.silent()
        self.assertEqual(self.command(b"ATS\xb2?"), cme(34819))
        self.assertEqual(self.command(b"AT"), OK)

    def test_everyByteSurvives(self) -> None:
        """
        A line of every byte value but CR, LF, BS and ETX is an error and AT still answers after.
        """
        self.silent()
        junk = bytes(b for b in range(256) if b not in (0x0D, 0x0A, 0x08, 0x03))
        for line in (b"AT" + junk, b"AT#" + junk, b"ATS" + junk, b"AT+CMEE=" + junk):
            answer = self.command(line)
            self.assertTrue(answer.startswith(b"\r\n#CME ERROR: "), (line, answer))
            self.assertEqual(self.command(b"AT+CMEE=1"), OK)
        self.assertEqual(self.command(b"AT"), OK)

    def test_readVerboseKeepsVerbose(self) -> None:
        """
        ATV? is a query: it does not switch result codes to numeric.
        """
        self.command(b"ATE0")
        self.command(b"ATV?")
        self.assertEqual(self.command(b"AT"), OK)

    def test_readEchoKeepsEcho(self) -> None:
        """
        ATE? and ATE=? are queries: they do not turn echo off.
        """
        self.command(b"ATE?")
        self.command(b"ATE=?")
        self.assertEqual(self.command(b"AT"), b"AT\r" + OK)

    def test_ltcpstartTestDoesNotListen(self) -> None:
        """
        AT#LTCPSTART=? is a test command: it binds nothing.
        """
        self.silent()
        self.command(b"AT#TCPPORT=2000")
        self.command(b"AT#LTCPSTART=?")
        self.assertEqual(self.reactor.tcpServers, [])
        self.assertEqual(self.modem.state, IDLE)

    def test_spaceInRegisterValue(self) -> None:
        """
        ATS3= 13 never sets S3 to 0: CR still ends the next line.
        """
        self.silent()
        self.command(b"ATS3= 13")
        self.assertEqual(self.command(b"AT"), OK)


    def test_spaceInEchoValue(self) -> None:
        """
        ATE 1 never turns echo off.
        """
        self.command(b"ATE 1")
        self.assertEqual(self.command(b"AT"), b"AT\r" + OK)

