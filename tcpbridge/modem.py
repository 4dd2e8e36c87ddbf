"""
The modem: the serial-side protocol and its state machine (SPEC sections
2, 3 and 5).

In command mode it reads AT command lines and answers them; while listening
it stays in command mode; once a session is admitted the line is in data
mode and bytes go through the session's L{Splice} until either side closes.

States::

    IDLE --LTCPSTART--> LISTENING --peer admitted--> DATA
      ^                    |                          |   \\
      +----LTCPSTOP/ETX----+       peer closes -------+    host ETX
      +--------------------------------------------------- CLOSING
"""

from typing import Callable, Dict, List, Optional, Sequence, Union

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge import __version__, dle
from tcpbridge.atcommands import ACTION, READ, SET, TEST, Command, parseLine
from tcpbridge.config import BridgeConfig
from tcpbridge.listener import (
    AdmissionFilter,
    Listener,
    OneSessionFactory,
    PeerHandler,
    PeerProtocol,
)
from tcpbridge.profile import PARAMETERS, PROFILE_IDS, BadValue, Profile, isDottedQuad
from tcpbridge.splice import Splice

IDLE = "IDLE"
LISTENING = "LISTENING"
DATA = "DATA"
CLOSING = "CLOSING"

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

_ETX = 0x03
_LF = 0x0A

#: Seconds a host-requested close may wait for the peer to take the last
#: bytes before the connection is aborted.
CLOSE_TIMEOUT = 30.0


class ATError(Exception):
    """
    A command failed with this CME error code.
    """

    def __init__(self, code: int) -> None:
        Exception.__init__(self, code)
        self.code = code


Handler = Callable[[Command], Optional[Deferred]]


class Modem(Protocol, PeerHandler):
    """
    One bridge's serial-side protocol.

    @ivar state: L{IDLE}, L{LISTENING}, L{DATA} or L{CLOSING}.
    """

    log = Logger()

    def __init__(self, config: BridgeConfig, reactor: IReactorTCP) -> None:
        self.config = config
        self.name = config.name
        self.reactor = reactor
        self.profile = Profile(config.parameters)
        self.state = IDLE
        self.activeProfile = 0
        self.echo = True
        self.verbose = True
        self.quiet = False
        self.cmee = 0
        self.s3 = 13
        self.s5 = 8
        self._line = bytearray()
        self._overflow = False
        self._previous = b""
        self._pending = b""
        self._busy = False
        self._holding = False
        self.listener: Optional[Listener] = None
        self.peer: Optional[PeerProtocol] = None
        self.splice: Optional[Splice] = None
        self._closeTimer: Optional[IDelayedCall] = None
        #: Fires once the serial line is closed or lost.
        self.lost: Deferred = Deferred()
        self._handlers: Dict[str, Handler] = {
            "E": self._flag("echo"),
            "V": self._flag("verbose"),
            "Q": self._flag("quiet"),
            "Z": self._reset,
            "&F": self._reset,
            "&W": self._save,
            "I": self._identify,
            "S3": self._register("s3"),
            "S5": self._register("s5"),
            "+CMEE": self._cmee,
            "#VVERSION": self._version,
            "#VSTATE": self._vstate,
            "#VTCP": self._listParameters,
            "#VALL": self._listParameters,
            "#LTCPSTART": self._ltcpstart,
            "#LTCPSTOP": self._ltcpstop,
        }

    # -- serial input -----------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """
        Route serial bytes: to the session in data mode, otherwise to the
        command line (held back while a command or a close is in progress).
        """
        if self.state == DATA:
            assert self.splice is not None
            rest = self.splice.fromHost(data)
            if rest is not None:
                self._hostClose(rest)
            return
        if self._busy or self.state == CLOSING:
            self._pending += data
            return
        self._commandInput(data)

    def _commandInput(self, data: bytes) -> None:
        echo = bytearray()
        for i, b in enumerate(data):
            if self._busy or self.state not in (IDLE, LISTENING):
                self._pending = data[i:] + self._pending
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
            self.transport.write(bytes(echo))
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

    def _run(self, commands: Sequence[Command], error: Optional[Exception]) -> None:
        """
        Run a line's commands left to right, waiting for any that answer
        later (binding a socket), and stop at the first error.
        """
        for index, command in enumerate(commands):
            try:
                result = self._dispatch(command)
            except ATError as e:
                self._error(e.code)
                return
            if isinstance(result, Deferred):
                self._busy = True
                rest = commands[index + 1 :]

                def done(_: object) -> None:
                    self._busy = False
                    self._run(rest, error)
                    self._drain()

                def failed(f: Failure) -> None:
                    self._busy = False
                    code = f.value.code if f.check(ATError) else SYNTAX_ERROR
                    if not f.check(ATError):
                        self.log.failure("{bridge}: command failed", f, bridge=self.name)
                    self._error(code)
                    self._drain()

                result.addCallbacks(done, failed)
                return
        if error is not None:
            self._error(SYNTAX_ERROR)
        else:
            self._result("OK")

    def _drain(self) -> None:
        pending, self._pending = self._pending, b""
        if pending:
            self.dataReceived(pending)

    def _dispatch(self, command: Command) -> Optional[Deferred]:
        handler = self._handlers.get(command.name)
        if handler is not None:
            return handler(command)
        if command.name[:1] == "#" and command.name[1:] in PARAMETERS:
            self._parameter(command.name[1:], command)
            return None
        raise ATError(UNKNOWN_COMMAND)

    # -- responses ----------------------------------------------------------

    def _info(self, text: str) -> None:
        line = text.encode("latin-1", "replace")
        self.transport.write(b"\r\n" + line + b"\r\n" if self.verbose else line + b"\r\n")

    def _result(self, name: str) -> None:
        if self.quiet:
            return
        if self.verbose:
            self.transport.write(b"\r\n" + name.encode("ascii") + b"\r\n")
        else:
            self.transport.write(b"%d\r" % (RESULT_CODES[name],))

    def _error(self, code: int) -> None:
        if self.cmee and not self.quiet:
            self._info("#CME ERROR: %d" % (code,))
        else:
            self._result("ERROR")

    # -- standard commands --------------------------------------------------

    def _flag(self, attribute: str) -> Handler:
        def handler(command: Command) -> None:
            value = _number(command, default=0)
            if value not in (0, 1):
                raise ATError(BAD_VALUE)
            setattr(self, attribute, bool(value))

        return handler

    def _register(self, attribute: str) -> Handler:
        def handler(command: Command) -> None:
            if command.kind == READ:
                self._info("%03d" % (getattr(self, attribute),))
            elif command.kind == SET:
                value = _number(command)
                if not 0 <= value <= 127:
                    raise ATError(BAD_VALUE)
                setattr(self, attribute, value)
            elif command.kind == TEST:
                self._info("(0-127)")

        return handler

    def _cmee(self, command: Command) -> None:
        if command.kind == READ:
            self._info("+CMEE: %d" % (self.cmee,))
        elif command.kind == TEST:
            self._info("+CMEE: (0,1)")
        else:
            value = _number(command, default=0)
            if value not in (0, 1):
                raise ATError(BAD_VALUE)
            self.cmee = value

    def _reset(self, command: Command) -> None:
        if self.state != IDLE:
            raise ATError(BUSY)
        self.profile.reset()
        self.echo, self.verbose, self.quiet, self.cmee = True, True, False, 0

    def _save(self, command: Command) -> None:
        pass

    def _identify(self, command: Command) -> None:
        self._info(self.config.identity)

    def _version(self, command: Command) -> None:
        self._info('#VERSION: "tcpbridge %s"' % (__version__,))

    def _vstate(self, command: Command) -> None:
        self._info('#STATE: "%s"' % ("CONNECTED" if self.state in (DATA, CLOSING) else "IDLE",))

    def _listParameters(self, command: Command) -> None:
        pid = self._profileId(command)
        self._showParameters(list(PARAMETERS), pid)

    def _showParameters(self, names: List[str], pid: int) -> None:
        for line in self.profile.lines(names, pid):
            self._info(line)

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

    def _parameter(self, name: str, command: Command) -> None:
        parameter = PARAMETERS[name]
        universal = self.config.dialect == "universal-ip"
        if command.kind == TEST:
            if universal:
                self._info("#%s: (1-2),%s" % (name, parameter.allowed))
            else:
                self._info("#%s: %s" % (name, parameter.allowed))
            return
        if command.kind == READ:
            if universal:
                for pid in PROFILE_IDS:
                    self._info(
                        "#%s: %d,%s" % (name, pid, parameter.format(self.profile.get(name, pid)))
                    )
            else:
                self._showParameters([name], PROFILE_IDS[0])
            return
        if command.kind == ACTION:
            raise ATError(SYNTAX_ERROR)
        args = command.args
        if len(args) == 2:
            pid = self._profileId(command, args[0])
            value = args[1]
        elif len(args) == 1 and universal:
            pid = self._profileId(command, args[0])
            self._info(
                "#%s: %d,%s" % (name, pid, parameter.format(self.profile.get(name, pid)))
            )
            return
        elif len(args) == 1:
            pid, value = PROFILE_IDS[0], args[0]
        else:
            raise ATError(SYNTAX_ERROR)
        if self.state != IDLE and pid == self.activeProfile:
            raise ATError(BUSY)
        try:
            self.profile.set(name, value, pid)
        except BadValue:
            raise ATError(BAD_VALUE)
        self.log.info(
            "{bridge}: #{parameter} of profile {profile} set to {value}",
            bridge=self.name,
            parameter=name,
            profile=pid,
            value=value,
        )

    # -- listening (SPEC 3) -------------------------------------------------

    def _ltcpstart(self, command: Command) -> Deferred:
        pid = self._profileId(command)
        if self.state != IDLE:
            raise ATError(BUSY)
        port = self.profile.get("TCPPORT", pid)
        tcpserv = self.profile.get("TCPSERV", pid)
        assert isinstance(port, int) and isinstance(tcpserv, str)
        if not 1 <= port <= 65535 or not isDottedQuad(tcpserv):
            raise ATError(BAD_VALUE)
        factory = OneSessionFactory(AdmissionFilter(tcpserv, self.config.allow), self, self.name)
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

    def _serverEndpoint(self, port: int) -> Union[TCP4ServerEndpoint, TCP6ServerEndpoint]:
        interface = self.config.interface
        if ":" in interface:
            return TCP6ServerEndpoint(self.reactor, port, interface=interface)
        return TCP4ServerEndpoint(self.reactor, port, interface=interface)

    def _ltcpstop(self, command: Command) -> Optional[Deferred]:
        self._profileId(command)
        if self.state != LISTENING:
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
        A session is admitted: close the listening socket, splice, tell the
        host, enter data mode.
        """
        if self.state != LISTENING or self.transport is None:
            protocol.transport.abortConnection()
            return
        self._stopListening()
        self.peer = protocol
        peerAddress = protocol.transport.getPeer()
        self.peerDescription = "%s:%s" % (
            getattr(peerAddress, "host", "?"),
            getattr(peerAddress, "port", "?"),
        )
        dleMode = self.profile.get("DLEMODE", self.activeProfile) == 1
        self.splice = Splice(self.transport, protocol.transport, dleMode)
        self.state = DATA
        self.log.info(
            "{bridge}: session from {peer} opened (DLEMODE {dlemode})",
            bridge=self.name,
            peer=self.peerDescription,
            dlemode=int(dleMode),
        )
        self._result("Ok_Info_WaitingForData")
        if self._pending:
            self._drain()

    def peerData(self, data: bytes) -> None:
        if self.splice is not None:
            self.splice.fromPeer(data)

    def _hostClose(self, rest: bytes) -> None:
        """
        The host sent a bare ETX: the bytes before it are already on their
        way; close the connection once they are sent (FIN), then report.
        """
        assert self.splice is not None and self.peer is not None
        self.state = CLOSING
        self._pending = rest + self._pending
        self.splice.unsplice()
        # Hold the host's further bytes in the tty until the close is done.
        self.transport.pauseProducing()
        self._holding = True
        transport = self.peer.transport
        self._closeTimer = self.reactor.callLater(CLOSE_TIMEOUT, transport.abortConnection)
        transport.loseConnection()

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
        if self._closeTimer is not None and self._closeTimer.active():
            self._closeTimer.cancel()
        self._closeTimer = None
        byHost = self.state == CLOSING
        self.peer = None
        self.splice = None
        self.state = IDLE
        self.log.info(
            "{bridge}: session from {peer} closed by {closer}: "
            "{toPeer} bytes to the peer, {toHost} bytes to the host",
            bridge=self.name,
            peer=self.peerDescription,
            closer="the host" if byHost else "the peer",
            toPeer=splice.sentToPeer,
            toHost=splice.sentToHost,
        )
        if self.transport is None or not self.transport.connected:
            return
        if not byHost and splice.dleMode:
            self.transport.write(dle.ETX)
        self._result("Ok_Info_SocketClosed")
        self._result("OK")
        if self._holding:
            self._holding = False
            self.transport.resumeProducing()
        self._drain()

    # -- the serial line itself ---------------------------------------------

    def shutdown(self) -> None:
        """
        Stop listening and close any session (service stop, device loss).
        """
        if self.state == LISTENING:
            self._stopListening()
        if self.peer is not None:
            transport = self.peer.transport
            if self.splice is not None:
                self.splice.unsplice()
            transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.state != IDLE:
            self.log.warn(
                "{bridge}: serial line lost in state {state}", bridge=self.name, state=self.state
            )
        self.shutdown()
        self.transport = None
        if not self.lost.called:
            self.lost.callback(None)


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
    if not text.isdigit():
        raise ATError(BAD_VALUE)
    return int(text)
