"""
The modem: the serial-side protocol and its state machine (SPEC sections
2 to 5).

In command mode it reads AT command lines and answers them; while listening
it stays in command mode; once a session is open (admitted while listening,
or dialled with C{AT#OTCP}) the line is in data mode and bytes go through
the session's L{Splice} until either side closes.

States::

    IDLE --LTCPSTART--> LISTENING --peer admitted--> DATA
     | ^                   |                        ^  |  \
     | +---LTCPSTOP/ETX----+                        |  |   host ETX
     |                                              |  |       |
     +--OTCP--> CONNECTING --connected (TLS: after  +  |       v
     ^             |        the certificate check)     |    CLOSING
     +--refused, timed out, ETX--+                     |       |
     +------------ peer closes, device lost -----------+-------+
"""

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint, TCP6ServerEndpoint
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import (
    IDelayedCall,
    IReactorTCP,
    IStreamServerEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge import __version__, dle
from tcpbridge.atcommands import ACTION, READ, SET, TEST, Command, isNumber, parseLine
from tcpbridge.config import BridgeConfig
from tcpbridge.dialer import clientEndpoint, connect
from tcpbridge.listener import (
    EVERYONE,
    AdmissionFilter,
    Listener,
    OneSessionFactory,
    PeerHandler,
    PeerProtocol,
)
from tcpbridge.profile import (
    PARAMETERS,
    PROFILE_IDS,
    BadValue,
    Profile,
    ProfileError,
    isDottedQuad,
)
from tcpbridge.serial import applyLineSettings
from tcpbridge.splice import Splice, Throttle
from tcpbridge.tls import clientOptions, serverOptions
from tcpbridge.trace import FROM_HOST, FROM_PEER, TO_HOST, Trace

IDLE = "IDLE"
LISTENING = "LISTENING"
DATA = "DATA"
CLOSING = "CLOSING"
CONNECTING = "CONNECTING"

#: Result codes and their numeric (ATV0) form.
RESULT_CODES = {
    "OK": 0,
    "ERROR": 4,
    "Ok_Info_WaitingForData": 1028,
    "Ok_Info_SocketClosed": 3074,
    "Ok_Info_GprsActivation": 3086,
}

# CME error codes (SPEC section 2).
UNKNOWN_COMMAND = 34817
SYNTAX_ERROR = 34819
LINE_TOO_LONG = 34881
BAD_VALUE = 34882
LINK_DOWN = 35867
BUSY = 37123
TCP_OPEN_FAILED = 38016
DNS_FAILED = 38027
NOT_ALLOWED = 3  # 3GPP 27.007 "operation not allowed": a profile that cannot be saved

#: Line speeds C{AT+IPR} accepts.
BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

#: C{AT+ICF} formats: data bits, parity (N or given by the second
#: argument), stop bits.
ICF_FORMATS = {1: (8, "N", 2), 2: (8, "P", 1), 3: (8, "N", 1), 4: (7, "N", 2), 5: (7, "P", 1), 6: (7, "N", 1)}

_FORMS = {ACTION: "a", SET: "s", READ: "r"}

#: A handler's return value meaning it wrote the line's final result itself.
FINAL = "final"

_ETX = 0x03
ETX = b"\x03"
_LF = 0x0A

#: Seconds a host-requested close may wait for the peer to take the last
#: bytes before the connection is aborted.
CLOSE_TIMEOUT = 30.0

#: Seconds the peer has, once the host's FIN is out, to close its side
#: before the connection is closed anyway.
CLOSE_GRACE = 5.0


class ATError(Exception):
    """
    A command failed with this CME error code.
    """

    def __init__(self, code: int) -> None:
        Exception.__init__(self, code)
        self.code = code


class Modem(Protocol, PeerHandler):
    """
    One bridge's serial-side protocol.

    @ivar state: L{IDLE}, L{LISTENING}, L{DATA} or L{CLOSING}.
    """

    log = Logger()

    #: Every command but the parameters of L{PARAMETERS}: the method that
    #: runs it, the forms it takes (a: action C{AT#X}, s: set C{AT#X=...},
    #: r: read C{AT#X?}; C{=?} always works) and what C{=?} shows.
    #: Parsing, help and listings all come from this table and that one.
    COMMANDS: Dict[str, Tuple[str, str, str]] = {
        "E": ("_echo", "a", "(0-1)"),
        "V": ("_verbose", "a", "(0-1)"),
        "Q": ("_quiet", "a", "(0-1)"),
        "Z": ("_restore", "a", ""),
        "&F": ("_factory", "a", ""),
        "&W": ("_save", "a", ""),
        "I": ("_identify", "a", ""),
        "S3": ("_s3", "rs", "(0-127)"),
        "S5": ("_s5", "rs", "(0-127)"),
        "+CMEE": ("_cmee", "ars", "+CMEE: (0-1)"),
        "+CGMI": ("_manufacturer", "a", ""),
        "+CGMM": ("_model", "a", ""),
        "+GMM": ("_model", "a", ""),
        "+CGMR": ("_revision", "a", ""),
        "+CGSN": ("_serialNumber", "a", ""),
        "+IPR": ("_ipr", "rs", "+IPR: (0,%s)" % (",".join(str(b) for b in BAUDRATES),)),
        "+IFC": ("_ifc", "rs", "+IFC: (0-2),(0-2)"),
        "+ICF": ("_icf", "rs", "+ICF: (1-6),(0-3)"),
        "+CSQ": ("_csq", "a", "+CSQ: (0-31,99),(0-7,99)"),
        "+CREG": ("_creg", "rs", "+CREG: (0-2)"),
        "+CGREG": ("_creg", "rs", "+CGREG: (0-2)"),
        "+CPIN": ("_cpin", "rs", ""),
        "+CCED": ("_accept", "ars", ""),
        "#VVERSION": ("_version", "a", ""),
        "#VSTATE": ("_vstate", "a", ""),
        "#VTCP": ("_vtcp", "as", "#VTCP: (1-2)"),
        "#VALL": ("_vall", "as", "#VALL: (1-2)"),
        "#DISPLAYIP": ("_displayip", "a", ""),
        "#CONNECTIONSTART": ("_connectionstart", "a", ""),
        "#CONNECTIONSTOP": ("_connectionstop", "a", ""),
        "#LTCPSTART": ("_ltcpstart", "as", "#LTCPSTART: (1-2)"),
        "#LTCPSTOP": ("_ltcpstop", "as", "#LTCPSTOP: (1-2)"),
        "#OTCP": ("_otcp", "as", "#OTCP: (1-2)"),
    }

    def __init__(self, config: BridgeConfig, reactor: IReactorTCP) -> None:
        self.config = config
        self.name = config.name
        self.reactor = reactor
        self.profile = Profile(config.parameters, config.profile)
        self.state = IDLE
        self.activeProfile = 0
        self.linkUp = config.link == "auto"
        self.trace: Optional[Trace] = None
        if config.trace:
            try:
                self.trace = Trace(config.trace)
            except OSError as e:
                self.log.error(
                    "{bridge}: cannot open the trace file: {error}", bridge=self.name, error=e
                )
        self.serverTLS = (
            serverOptions(config.tls_cert, config.tls_key or config.tls_cert, config.tls_ca)
            if config.tls_cert
            else None
        )
        self._applySettings(self._factorySettings())
        self._previous = b""
        self._afterResult: List[Callable[[], None]] = []
        self._resetLine()
        self.listener: Optional[Listener] = None
        self.peer: Optional[PeerProtocol] = None
        self.splice: Optional[Splice] = None
        self._closeTimer: Optional[IDelayedCall] = None
        self._idleTimer: Optional[IDelayedCall] = None
        self._graceTimer: Optional[IDelayedCall] = None
        self._dropped = 0
        self._lastActivity = 0.0
        self._opening: Optional[Deferred] = None
        self._attempt: Optional[Deferred] = None
        self._dialing: Optional[PeerProtocol] = None
        self._openTimer: Optional[IDelayedCall] = None
        self._openAbandoned: Optional[str] = None
        #: Fires once the serial line is closed or lost.
        self.lost: Deferred = Deferred()
        try:
            if self.profile.load():
                self._applySettings(self.profile.settings)
                self.log.info(
                    "{bridge}: parameters read from {path}", bridge=self.name, path=config.profile
                )
        except ProfileError as e:
            self.log.error("{bridge}: {error}; using the defaults", bridge=self.name, error=e)

    def connectionMade(self) -> None:
        """
        The serial line is open (at start-up, or again after a loss): start
        in command mode, with the parameters and settings kept.
        """
        self._resetLine()
        if self.lost.called:
            self.lost = Deferred()
        self._guard = Throttle(self.transport)
        self._guardCommandMode()
        # Saved line settings (AT&W after AT+IPR) apply from the start.
        self._applyLine()

    def _resetLine(self) -> None:
        """
        Command mode, with nothing half-typed, held or pending.
        """
        self.state = IDLE
        self._line = bytearray()
        self._overflow = False
        self._pending = b""
        self._busy = False
        self._holding = False
        self._afterResult = []

    # -- serial input -----------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """
        Route serial bytes: to the session in data mode, otherwise to the
        command line (held back while a command or a close is in progress).
        """
        if self.trace is not None:
            self.trace(FROM_HOST, data)
        if self.state == DATA:
            assert self.splice is not None
            self._lastActivity = self.reactor.seconds()
            rest = self.splice.fromHost(data)
            if rest is not None:
                self._hostClose(rest)
            return
        if self._busy or self.state in (CLOSING, CONNECTING):
            self._hold(data)
            return
        self._commandInput(data)

    def _hold(self, data: bytes) -> None:
        """
        Keep input for when the command (or close) in progress is done; but
        a bare ETX while a connection is being opened cancels it at once.
        """
        if self.state == CONNECTING and ETX in data:
            at = data.index(ETX)
            self._pending += data[:at] + data[at + 1 :]
            self._cancelOpen("cancelled by the host")
        else:
            self._pending += data

    def _commandInput(self, data: bytes) -> None:
        echo = bytearray()
        for i, b in enumerate(data):
            if self._busy or self.state not in (IDLE, LISTENING):
                self._hold(data[i:])
                break
            if b == self.s3:
                if self.echo:
                    echo.append(b)
                self._flush(echo)
                line, self._line = bytes(self._line), bytearray()
                self._executeLine(line)
            elif b == _ETX:
                self._flush(echo)
                self._bareETX()
            elif b == _LF:
                continue
            elif b == self.s5:
                if self._line:
                    self._line.pop()
                if self.echo:
                    echo.append(b)
            else:
                if self.echo:
                    echo.append(b)
                if len(self._line) >= self.config.line_limit:
                    self._overflow = True
                else:
                    self._line.append(b)
                    if len(self._line) == 2 and self._line.upper() == b"A/":
                        self._line = bytearray()
                        self._flush(echo)
                        self._executeLine(self._previous)
        self._flush(echo)

    def _flush(self, echo: bytearray) -> None:
        if echo:
            self._write(bytes(echo))
            del echo[:]

    def _bareETX(self) -> None:
        # Firmware sends a few at start-up to make sure no session is left
        # open; while listening it stops the listening (SPEC 3.2).
        if self.state == LISTENING:
            self._run([Command("#LTCPSTOP", ACTION)], None)

    def _executeLine(self, line: bytes) -> None:
        if self._overflow:
            self._overflow = False
            self._error(LINE_TOO_LONG)
            return
        text = line.decode("latin-1")
        if not text.strip():
            return
        if text[:2].upper() != "AT":
            self._error(SYNTAX_ERROR)
            return
        self._previous = line
        commands, error = parseLine(text)
        self._run(commands, error)

    def _run(
        self, commands: Sequence[Command], error: Optional[Exception], final: bool = False
    ) -> None:
        """
        Run a line's commands left to right, waiting for any that answer
        later (binding a socket, connecting), and stop at the first error.
        """
        for index, command in enumerate(commands):
            try:
                result = self._dispatch(command)
            except ATError as e:
                self._error(e.code)
                self._lineDone()
                return
            except Exception:
                # A bug must cost one ERROR, never the serial line.
                self.log.failure("{bridge}: {command} failed", bridge=self.name, command=command)
                self._error(SYNTAX_ERROR)
                self._lineDone()
                return
            final = result is FINAL
            if isinstance(result, Deferred):
                self._busy = True
                rest = commands[index + 1 :]

                def done(outcome: object) -> None:
                    self._busy = False
                    if self.state == DATA:
                        # The session is open: the rest of the line is moot.
                        self._lineDone()
                    else:
                        self._run(rest, error, outcome is FINAL)
                    self._drain()

                def failed(f: Failure) -> None:
                    self._busy = False
                    code = f.value.code if f.check(ATError) else SYNTAX_ERROR
                    if not f.check(ATError):
                        self.log.failure("{bridge}: command failed", f, bridge=self.name)
                    self._error(code)
                    self._lineDone()
                    self._drain()

                result.addCallbacks(done, failed)
                return
        if error is not None:
            self._error(SYNTAX_ERROR)
        elif not final:
            self._result("OK")
        self._lineDone()

    def _lineDone(self) -> None:
        """
        The final result is out: now apply what must wait for it (a new
        line speed).
        """
        after, self._afterResult = self._afterResult, []
        for action in after:
            action()

    def _drain(self) -> None:
        pending, self._pending = self._pending, b""
        if pending:
            self.dataReceived(pending)

    def _dispatch(self, command: Command) -> Optional[Deferred]:
        entry = self.COMMANDS.get(command.name)
        if entry is not None:
            method, forms, helpText = entry
            if command.kind == TEST:
                if helpText:
                    self._info(helpText)
                return None
            if _FORMS[command.kind] not in forms:
                raise ATError(SYNTAX_ERROR)
            return getattr(self, method)(command)  # type: ignore[no-any-return]
        if command.name in PARAMETERS:
            self._parameter(command.name, command)
            return None
        raise ATError(UNKNOWN_COMMAND)

    # -- responses ----------------------------------------------------------

    def _write(self, data: bytes) -> None:
        # A reply that comes after the line was lost goes nowhere.
        if self.transport is not None:
            if self.trace is not None:
                self.trace(TO_HOST, data)
            self.transport.write(data)

    def _info(self, text: str) -> None:
        line = text.encode("latin-1", "replace")
        self._write(b"\r\n" + line + b"\r\n" if self.verbose else line + b"\r\n")

    def _result(self, name: str) -> None:
        if self.quiet:
            return
        if self.verbose:
            self._write(b"\r\n" + name.encode("ascii") + b"\r\n")
        else:
            self._write(b"%d\r" % (RESULT_CODES[name],))

    def _error(self, code: int) -> None:
        if self.cmee and not self.quiet:
            self._info("#CME ERROR: %d" % (code,))
        else:
            self._result("ERROR")

    # -- standard commands --------------------------------------------------

    def _factorySettings(self) -> Dict[str, Any]:
        c = self.config
        flow = {"none": 0, "xonxoff": 1, "rtscts": 2}[c.flowcontrol]
        return {
            "echo": 1,
            "verbose": 1,
            "quiet": 0,
            "cmee": 0,
            "s3": 13,
            "s5": 8,
            "ipr": c.baudrate,
            "ifc": [flow, flow],
            "icf": list(_icf(c.bytesize, c.parity, c.stopbits)),
        }

    def _settings(self) -> Dict[str, Any]:
        return {
            "echo": int(self.echo),
            "verbose": int(self.verbose),
            "quiet": int(self.quiet),
            "cmee": self.cmee,
            "s3": self.s3,
            "s5": self.s5,
            "ipr": self.ipr,
            "ifc": list(self.ifc),
            "icf": list(self.icf),
        }

    def _applySettings(self, settings: Mapping[str, Any]) -> None:
        """
        Take the modem settings of a saved profile; anything malformed in it
        is left at the value it had.
        """
        def pick(key: str, check: Callable[[Any], bool], default: Any) -> Any:
            value = settings.get(key, default)
            try:
                return value if check(value) else default
            except (TypeError, ValueError):
                return default

        flag = lambda v: v in (0, 1)  # noqa: E731
        register = lambda v: isinstance(v, int) and 0 <= v <= 127  # noqa: E731
        self.echo = bool(pick("echo", flag, getattr(self, "echo", True)))
        self.verbose = bool(pick("verbose", flag, getattr(self, "verbose", True)))
        self.quiet = bool(pick("quiet", flag, getattr(self, "quiet", False)))
        self.cmee = pick("cmee", flag, getattr(self, "cmee", 0))
        self.s3 = pick("s3", register, getattr(self, "s3", 13))
        self.s5 = pick("s5", register, getattr(self, "s5", 8))
        self.ipr = pick(
            "ipr", lambda v: isinstance(v, int) and 50 <= v <= 4000000, getattr(self, "ipr", 115200)
        )
        self.ifc = tuple(
            pick("ifc", lambda v: len(v) == 2 and all(x in (0, 1, 2) for x in v),
                 getattr(self, "ifc", (0, 0)))
        )
        self.icf = tuple(
            pick("icf", lambda v: len(v) == 2 and 1 <= v[0] <= 6 and 0 <= v[1] <= 3,
                 getattr(self, "icf", (3, 4)))
        )

    def _applyLine(self) -> None:
        """
        Put the live port's line settings in step with C{+IPR}, C{+ICF}
        and C{+IFC}.
        """
        c = self.config
        if self.icf == _icf(c.bytesize, c.parity, c.stopbits):
            # The configured line, exactly, even where +ICF cannot say it.
            bytesize, parity, stopbits = c.bytesize, c.parity, c.stopbits
        else:
            bytesize, parity, stopbits = ICF_FORMATS[self.icf[0]]
            if parity != "N":
                parity = "OEMS"[self.icf[1]]
        applyLineSettings(
            self.transport,
            baudrate=self.ipr,
            bytesize=bytesize,
            parity=parity,
            stopbits=stopbits,
            rtscts=2 in self.ifc,
            xonxoff=1 in self.ifc,
        )

    def _flagCommand(self, attribute: str, command: Command) -> None:
        if command.kind == READ:
            raise ATError(SYNTAX_ERROR)
        value = _number(command, default=0)
        if value not in (0, 1):
            raise ATError(BAD_VALUE)
        setattr(self, attribute, bool(value))

    def _echo(self, command: Command) -> None:
        self._flagCommand("echo", command)

    def _verbose(self, command: Command) -> None:
        self._flagCommand("verbose", command)

    def _quiet(self, command: Command) -> None:
        self._flagCommand("quiet", command)

    def _registerCommand(self, attribute: str, command: Command) -> None:
        if command.kind == READ:
            self._info("%03d" % (getattr(self, attribute),))
        elif command.kind == SET:
            value = _number(command)
            if not 0 <= value <= 127:
                raise ATError(BAD_VALUE)
            setattr(self, attribute, value)
        else:
            raise ATError(SYNTAX_ERROR)

    def _s3(self, command: Command) -> None:
        self._registerCommand("s3", command)

    def _s5(self, command: Command) -> None:
        self._registerCommand("s5", command)

    def _cmee(self, command: Command) -> None:
        if command.kind == READ:
            self._info("+CMEE: %d" % (self.cmee,))
        else:
            value = _number(command, default=0)
            if value not in (0, 1):
                raise ATError(BAD_VALUE)
            self.cmee = value

    def _idle(self) -> None:
        if self.state != IDLE:
            raise ATError(BUSY)

    def _restore(self, command: Command) -> None:
        """
        C{ATZ}: back to the saved profile (or the factory one if none).
        """
        self._idle()
        self.profile.reset()
        self._applySettings(self._factorySettings())
        try:
            self.profile.load()
        except ProfileError as e:
            self.log.error("{bridge}: {error}; using the defaults", bridge=self.name, error=e)
        self._applySettings(self.profile.settings)
        self._afterResult.append(self._applyLine)

    def _factory(self, command: Command) -> None:
        """
        C{AT&F}: the factory values (those of the C{.ini} file).
        """
        self._idle()
        self.profile.reset()
        self._applySettings(self._factorySettings())
        self._persist()
        self._afterResult.append(self._applyLine)

    def _save(self, command: Command) -> None:
        """
        C{AT&W}: save the current settings and parameters.
        """
        self.profile.settings = self._settings()
        if self.profile.path is not None and not self._persist():
            raise ATError(NOT_ALLOWED)

    def _persist(self) -> bool:
        try:
            self.profile.save()
        except OSError as e:
            self.log.error(
                "{bridge}: cannot save the profile to {path}: {error}",
                bridge=self.name,
                path=self.profile.path,
                error=e,
            )
            return False
        return True

    def _identify(self, command: Command) -> None:
        self._info(self.config.identity)

    def _identity(self, command: Command, text: str) -> None:
        if command.kind != ACTION:
            raise ATError(SYNTAX_ERROR)
        self._info(text)

    def _manufacturer(self, command: Command) -> None:
        self._identity(command, self.config.manufacturer)

    def _model(self, command: Command) -> None:
        self._identity(command, self.config.model)

    def _revision(self, command: Command) -> None:
        self._identity(command, self.config.revision)

    def _serialNumber(self, command: Command) -> None:
        self._identity(command, self.config.serial_number)

    def _ipr(self, command: Command) -> None:
        if command.kind == READ:
            self._info("+IPR: %d" % (self.ipr,))
            return
        value = _number(command)
        if value == 0:
            return
        if value not in BAUDRATES:
            raise ATError(BAD_VALUE)
        self.ipr = value
        # The OK goes out at the old speed, then the port changes.
        self._afterResult.append(self._applyLine)

    def _ifc(self, command: Command) -> None:
        if command.kind == READ:
            self._info("+IFC: %d,%d" % self.ifc)
            return
        values = _numbers(command, 1, 2)
        if any(v not in (0, 1, 2) for v in values):
            raise ATError(BAD_VALUE)
        self.ifc = (values[0], values[-1] if len(values) == 2 else self.ifc[1])
        self._afterResult.append(self._applyLine)

    def _icf(self, command: Command) -> None:
        if command.kind == READ:
            self._info("+ICF: %d,%d" % self.icf)
            return
        values = _numbers(command, 1, 2)
        if not 1 <= values[0] <= 6 or (len(values) == 2 and not 0 <= values[1] <= 3):
            raise ATError(BAD_VALUE)
        self.icf = (values[0], values[1] if len(values) == 2 else self.icf[1])
        self._afterResult.append(self._applyLine)

    def _csq(self, command: Command) -> None:
        self._identity(command, "+CSQ: %s" % (self.config.csq,))

    def _creg(self, command: Command) -> None:
        if command.kind == READ:
            mode = self.profile.get(command.name)
            self._info("%s: %s,%d" % (command.name, mode, self.config.registration))
        else:
            self._parameter(command.name, command)

    def _cpin(self, command: Command) -> None:
        if command.kind == READ:
            self._info("+CPIN: %s" % (self.config.cpin,))
        elif command.kind != SET:
            raise ATError(SYNTAX_ERROR)

    def _accept(self, command: Command) -> None:
        pass

    def _version(self, command: Command) -> None:
        self._info('#VERSION: "tcpbridge %s"' % (__version__,))

    def _vstate(self, command: Command) -> None:
        self._info('#STATE: "%s"' % ("CONNECTED" if self.state in (DATA, CLOSING) else "IDLE",))

    def _vtcp(self, command: Command) -> None:
        pid = self._profileId(command)
        self._showParameters([n for n in PARAMETERS if PARAMETERS[n].tcp], pid)

    def _vall(self, command: Command) -> None:
        pid = self._profileId(command)
        self._showParameters(list(PARAMETERS), pid)

    def _showParameters(self, names: List[str], pid: int) -> None:
        for line in self.profile.lines(names, pid):
            self._info(line)

    def _localAddress(self) -> str:
        if self.peer is not None:
            return str(getattr(self.peer.transport.getHost(), "host", "0.0.0.0"))
        return self.config.interface if self.linkUp else "0.0.0.0"

    def _displayip(self, command: Command) -> None:
        peer = "0.0.0.0"
        if self.peer is not None:
            peer = str(getattr(self.peer.transport.getPeer(), "host", peer))
        self._info('#MY IP: "%s"' % (self._localAddress(),))
        self._info('#PEER IP: "%s"' % (peer,))
        self._info('#GATEWAY IP: "0.0.0.0"')

    def _connectionstart(self, command: Command) -> Optional[str]:
        """
        Bring the (emulated) GPRS link up: C{Ok_Info_GprsActivation}, then
        the local address, in place of C{OK}.
        """
        self.linkUp = True
        self._result("Ok_Info_GprsActivation")
        self._info(self._localAddress())
        return FINAL

    def _connectionstop(self, command: Command) -> None:
        self._idle()
        if self.config.link == "explicit":
            self.linkUp = False

    # -- the IP stack's parameters -----------------------------------------

    def _profileId(self, command: Command, text: Optional[str] = None) -> int:
        """
        The profile an action or listing addresses (C{=id}, default 1).
        """
        if text is None:
            if command.kind == SET and len(command.args) == 1:
                text = command.args[0]
            elif command.kind == SET or command.kind == READ:
                raise ATError(SYNTAX_ERROR)
            else:
                return PROFILE_IDS[0]
        if text not in [str(p) for p in PROFILE_IDS]:
            raise ATError(BAD_VALUE)
        return int(text)

    def _readParameter(self, name: str, pid: int) -> None:
        value = PARAMETERS[name].format(self.profile.get(name, pid))
        if self.config.dialect == "universal-ip" and PARAMETERS[name].tcp:
            self._info("%s: %d,%s" % (name, pid, value))
        else:
            self._info("%s: %s" % (name, value))

    def _parameter(self, name: str, command: Command) -> None:
        parameter = PARAMETERS[name]
        universal = self.config.dialect == "universal-ip" and parameter.tcp
        if command.kind == TEST:
            self._info("%s: %s%s" % (name, "(1-2)," if universal else "", parameter.allowed))
            return
        if command.kind == READ:
            for pid in PROFILE_IDS if universal else PROFILE_IDS[:1]:
                self._readParameter(name, pid)
            return
        if command.kind == ACTION:
            raise ATError(SYNTAX_ERROR)
        args = command.args
        pid = PROFILE_IDS[0]
        if name[0] == "+":
            # Standard commands take their arguments whole (+CGDCONT=1,"IP","apn").
            value = ",".join(
                '"%s"' % (a,) if q and not parameter.quoted else a
                for a, q in zip(args, command.quoted)
            )
        elif len(args) == 2:
            pid = self._profileId(command, args[0])
            value = args[1]
        elif len(args) == 1 and universal:
            self._readParameter(name, self._profileId(command, args[0]))
            return
        elif len(args) == 1:
            value = args[0]
        else:
            raise ATError(SYNTAX_ERROR)
        if self.state != IDLE and parameter.tcp and pid == self.activeProfile:
            raise ATError(BUSY)
        try:
            self.profile.set(name, value, pid)
        except BadValue:
            raise ATError(BAD_VALUE)
        self.log.info(
            "{bridge}: {parameter} of profile {profile} set to {value}",
            bridge=self.name,
            parameter=name,
            profile=pid,
            value=value,
        )
        self._persist()

    # -- listening (SPEC 3) -------------------------------------------------

    def _ltcpstart(self, command: Command) -> Deferred:
        pid = self._profileId(command)
        self._idle()
        if not self.linkUp:
            raise ATError(LINK_DOWN)
        port = self.profile.get("#TCPPORT", pid)
        tcpserv = self.profile.get("#TCPSERV", pid)
        assert isinstance(port, int) and isinstance(tcpserv, str)
        if not 1 <= port <= 65535 or not isDottedQuad(tcpserv):
            raise ATError(BAD_VALUE)
        factory = OneSessionFactory(
            AdmissionFilter(tcpserv, self.config.allow),
            self,
            self.name,
            tls=self.serverTLS is not None,
        )
        listener = Listener(self._serverEndpoint(port), factory)
        self.listener = listener
        self.state = LISTENING
        self.activeProfile = pid

        def bound(listening: object) -> None:
            self.log.info(
                "{bridge}: listening on {interface} port {port}, admitting {tcpserv}",
                bridge=self.name,
                interface=self.config.interface,
                port=port,
                tcpserv=tcpserv,
            )

        def notBound(f: Failure) -> None:
            self.log.warn(
                "{bridge}: cannot listen on port {port}: {error}",
                bridge=self.name,
                port=port,
                error=f.getErrorMessage(),
            )
            if self.listener is listener:
                self.listener = None
                self.state = IDLE
            raise ATError(TCP_OPEN_FAILED)

        return listener.start().addCallbacks(bound, notBound)

    def _serverEndpoint(self, port: int) -> IStreamServerEndpoint:
        interface = self.config.interface
        if self.serverTLS is not None:
            return SSL4ServerEndpoint(self.reactor, port, self.serverTLS, interface=interface)
        if ":" in interface:
            return TCP6ServerEndpoint(self.reactor, port, interface=interface)
        return TCP4ServerEndpoint(self.reactor, port, interface=interface)

    def _ltcpstop(self, command: Command) -> Optional[Deferred]:
        pid = self._profileId(command)
        if self.state != LISTENING or pid != self.activeProfile:
            return None
        return self._stopListening()

    def _stopListening(self) -> Deferred:
        listener, self.listener = self.listener, None
        self.state = IDLE
        assert listener is not None
        self.log.info("{bridge}: listening stopped", bridge=self.name)
        return listener.stop()

    # -- the session (SPEC 5) -----------------------------------------------

    def peerConnected(self, protocol: PeerProtocol) -> None:
        """
        A session is open (admitted while listening, or dialled): close the
        listening socket, splice, tell the host, enter data mode.
        """
        if self.transport is None or self.state not in (LISTENING, CONNECTING):
            protocol.transport.abortConnection()
            return
        if self.state == LISTENING:
            self._stopListening()
        opening = self._endOpen()
        self.peer = protocol
        peerAddress = protocol.transport.getPeer()
        self.peerDescription = "%s:%s" % (
            getattr(peerAddress, "host", "?"),
            getattr(peerAddress, "port", "?"),
        )
        dleMode = self.profile.get("#DLEMODE", self.activeProfile) == 1
        delay = self.profile.get("#TCPTXDELAY", self.activeProfile)
        assert isinstance(delay, int)
        self._unguardCommandMode()
        self.splice = Splice(
            self.transport, protocol.transport, dleMode, delay / 1000.0, self.reactor, self.trace
        )
        self.state = DATA
        self.log.info(
            "{bridge}: session from {peer} opened (DLEMODE {dlemode})",
            bridge=self.name,
            peer=self.peerDescription,
            dlemode=int(dleMode),
        )
        self._result("Ok_Info_WaitingForData")
        self._lastActivity = self.reactor.seconds()
        if self.config.idle_timeout:
            self._idleTimer = self.reactor.callLater(self.config.idle_timeout, self._checkIdle)
        if opening is not None:
            opening.callback(FINAL)
        elif self._pending:
            self._drain()

    def _guardCommandMode(self) -> None:
        """
        In command mode the host's own answers are what can pile up: when
        the serial write buffer is full, stop reading the host until it has
        taken them (a session's L{Splice} does this in data mode).
        """
        if self.transport is not None and self.transport.producer is None:
            self.transport.registerProducer(self._guard, True)

    def _unguardCommandMode(self) -> None:
        if self.transport is not None and self.transport.producer is self._guard:
            self.transport.unregisterProducer()
        self._guard.resumeProducing()

    def _checkIdle(self) -> None:
        """
        Close a session that moved no byte either way for C{idle_timeout}
        seconds, as if the peer had closed it.
        """
        self._idleTimer = None
        timeout = self.config.idle_timeout
        if self.state != DATA or self.peer is None or not timeout:
            return
        quiet = self.reactor.seconds() - self._lastActivity
        if quiet < timeout:
            self._idleTimer = self.reactor.callLater(timeout - quiet, self._checkIdle)
            return
        self.log.info(
            "{bridge}: session from {peer} idle for {seconds} s: closing it",
            bridge=self.name,
            peer=self.peerDescription,
            seconds=timeout,
        )
        self.peer.transport.loseConnection()

    def peerFailed(self, protocol: PeerProtocol, reason: object) -> None:
        """
        A connection was lost before its session opened: a TLS handshake or
        certificate check failed.
        """
        error = reason.getErrorMessage() if isinstance(reason, Failure) else str(reason)
        if self.state == CONNECTING and protocol is self._dialing:
            self._openFailed(reason if isinstance(reason, Failure) else Failure(Exception(error)))
        elif self.state == LISTENING and self.listener is not None:
            peer = getattr(protocol.transport.getPeer(), "host", "?")
            self.listener.factory.refused(peer, "TLS handshake failed: %s" % (error,))

    # -- dialling out (SPEC 4) ----------------------------------------------

    def _otcp(self, command: Command) -> Deferred:
        pid = self._profileId(command)
        self._idle()
        if not self.linkUp:
            raise ATError(LINK_DOWN)
        host = self.profile.get("#TCPSERV", pid)
        port = self.profile.get("#TCPPORT", pid)
        outport = self.profile.get("#OUTPORT", pid)
        assert isinstance(host, str) and isinstance(port, int) and isinstance(outport, int)
        if not 1 <= port <= 65535 or host == EVERYONE:
            raise ATError(BAD_VALUE)
        c = self.config
        tlsOptions = None
        if c.tls:
            try:
                tlsOptions = clientOptions(host, c.tls_ca, c.tls_cert, c.tls_key)
            except Exception as e:
                self.log.error("{bridge}: TLS set-up failed: {error}", bridge=self.name, error=e)
                raise ATError(TCP_OPEN_FAILED)
        endpoint = clientEndpoint(self.reactor, host, port, c.connect_timeout, outport, tlsOptions)
        self.state = CONNECTING
        self.activeProfile = pid
        self._openAbandoned = None
        opening = self._opening = Deferred()
        self._openTimer = self.reactor.callLater(
            c.connect_timeout, self._cancelOpen, "timed out"
        )
        self.log.info(
            "{bridge}: connecting to {host} port {port}{tls}",
            bridge=self.name,
            host=host,
            port=port,
            tls=" over TLS" if tlsOptions else "",
        )
        attempt = self._attempt = connect(endpoint, self, tls=tlsOptions is not None)

        def connected(protocol: PeerProtocol) -> None:
            if attempt is self._attempt:
                self._attempt = None
                if self.state == CONNECTING:
                    self._dialing = protocol

        def failed(f: Failure) -> None:
            if attempt is self._attempt:
                self._attempt = None
                self._openFailed(f)

        attempt.addCallbacks(connected, failed)
        # Not self._opening: a connection that fails at once has already
        # answered through it and cleared it.
        return opening

    def _cancelOpen(self, why: str) -> None:
        """
        Give up opening the connection (the host's ETX, or the time-out).
        """
        if self.state != CONNECTING:
            return
        self._openAbandoned = why
        if self._attempt is not None:
            self._attempt.cancel()
        elif self._dialing is not None:
            self._dialing.transport.abortConnection()

    def _endOpen(self) -> Optional[Deferred]:
        """
        The opening is over: stop its timer, forget it, return what the
        command waits on.
        """
        if self._openTimer is not None and self._openTimer.active():
            self._openTimer.cancel()
        self._openTimer = None
        self._attempt = None
        self._dialing = None
        opening, self._opening = self._opening, None
        return opening

    def _openFailed(self, f: Failure) -> None:
        if self.state != CONNECTING:
            return
        self.state = IDLE
        opening = self._endOpen()
        why = self._openAbandoned
        self.log.info(
            "{bridge}: connection failed: {error}",
            bridge=self.name,
            error=why or f.getErrorMessage(),
        )
        if opening is None:
            return
        if why == "cancelled by the host":
            opening.callback(None)
        else:
            code = errorCode(f) if why is None else TCP_OPEN_FAILED
            opening.errback(ATError(code or TCP_OPEN_FAILED))

    def peerData(self, data: bytes) -> None:
        if self.trace is not None:
            self.trace(FROM_PEER, data)
        self._lastActivity = self.reactor.seconds()
        if self.state == CLOSING:
            self._dropped += len(data)
        elif self.splice is not None:
            self.splice.fromPeer(data)

    def _hostClose(self, rest: bytes) -> None:
        """
        The host sent a bare ETX: the bytes before it are already on their
        way; close the connection once they are sent (FIN), then report.

        Only the sending side is shut at first, and the peer is still read
        (what it sends now is dropped: the host has closed): closing a
        socket with unread bytes in it makes the kernel send a reset, which
        can destroy the host's last bytes before the peer has read them.
        """
        assert self.splice is not None and self.peer is not None
        self.state = CLOSING
        self._pending = rest + self._pending
        self.splice.flush()
        self.splice.unsplice()
        # Hold the host's further bytes in the tty until the close is done.
        self.transport.pauseProducing()
        self._holding = True
        transport = self.peer.transport
        self._closeTimer = self.reactor.callLater(CLOSE_TIMEOUT, transport.abortConnection)
        if ITCPTransport.providedBy(transport):
            transport.loseWriteConnection()
        else:
            transport.loseConnection()

    def peerWriteClosed(self, protocol: PeerProtocol) -> None:
        """
        The host's last bytes and the FIN are out: give the peer a moment
        to read them and close, then close whatever it does.
        """
        if self.state == CLOSING and protocol is self.peer:
            self._graceTimer = self.reactor.callLater(
                CLOSE_GRACE, protocol.transport.loseConnection
            )

    def peerLost(self, protocol: PeerProtocol, reason: object) -> None:
        """
        The session's connection is gone: report to the host as SPEC 5 says
        and return to command mode.
        """
        if protocol is not self.peer:
            return
        splice = self.splice
        assert splice is not None
        splice.unsplice()
        for timer in (self._closeTimer, self._idleTimer, self._graceTimer):
            if timer is not None and timer.active():
                timer.cancel()
        self._closeTimer = self._idleTimer = self._graceTimer = None
        byHost = self.state == CLOSING
        self.peer = None
        self.splice = None
        self.state = IDLE
        self.log.info(
            "{bridge}: session from {peer} closed by {closer}: "
            "{toPeer} bytes to the peer, {toHost} bytes to the host{dropped}",
            bridge=self.name,
            peer=self.peerDescription,
            closer="the host" if byHost else "the peer",
            toPeer=splice.sentToPeer,
            toHost=splice.sentToHost,
            dropped=(
                ", %d bytes the peer sent after the host's close dropped" % (self._dropped,)
                if self._dropped
                else ""
            ),
        )
        self._dropped = 0
        if self.transport is None or not self.transport.connected:
            return
        if not byHost and splice.dleMode:
            self._write(dle.ETX)
        self._result("Ok_Info_SocketClosed")
        self._result("OK")
        if self._holding:
            self._holding = False
            self.transport.resumeProducing()
        self._guardCommandMode()
        self._drain()

    # -- the serial line itself ---------------------------------------------

    def shutdown(self) -> None:
        """
        Stop listening and close any session (service stop, device loss).
        """
        if self.state == LISTENING:
            self._stopListening()
        if self.state == CONNECTING:
            self._cancelOpen("the serial line is closing")
        if self.peer is not None:
            transport = self.peer.transport
            if self.splice is not None:
                self.splice.unsplice()
            transport.loseConnection()

    def close(self) -> None:
        """
        The bridge stops for good: close the trace file.
        """
        if self.trace is not None:
            self.trace.close()
            self.trace = None

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.state != IDLE:
            self.log.warn(
                "{bridge}: serial line lost in state {state}", bridge=self.name, state=self.state
            )
        self.shutdown()
        self.transport = None
        if not self.lost.called:
            self.lost.callback(None)


def errorCode(failure: Failure) -> Optional[int]:
    """
    The CME error code for a failed C{AT#OTCP}, or L{None} if the host
    cancelled it.
    """
    if failure.check(CancelledError):
        return None
    if failure.check(DNSLookupError):
        return DNS_FAILED
    return TCP_OPEN_FAILED


def _icf(bytesize: int, parity: str, stopbits: float) -> Tuple[int, int]:
    """
    The C{AT+ICF} format and parity for a line setting.
    """
    for code, (bits, par, stop) in ICF_FORMATS.items():
        if bits == bytesize and (par == "N") == (parity == "N") and stop == stopbits:
            return code, "OEMS".index(parity) if parity != "N" else 0
    return 3, 0


def _numbers(command: Command, low: int, high: int) -> List[int]:
    """
    The numeric arguments of a set command, between C{low} and C{high} of
    them.
    """
    if command.kind != SET or not low <= len(command.args) <= high:
        raise ATError(SYNTAX_ERROR)
    if not all(isNumber(a) for a in command.args):
        raise ATError(BAD_VALUE)
    return [int(a) for a in command.args]


def _number(command: Command, default: Optional[int] = None) -> int:
    """
    The single numeric argument of a command (C{E0}, C{+CMEE=1}).
    """
    if not command.args:
        if default is None:
            raise ATError(SYNTAX_ERROR)
        return default
    if len(command.args) != 1:
        raise ATError(SYNTAX_ERROR)
    text = command.args[0]
    if not isNumber(text):
        raise ATError(BAD_VALUE)
    return int(text)
