"""
The modem's line discipline: the serial-side protocol of one bridge.

In command mode it frames AT command lines (CR, backspace, C{A/}, echo,
the line limit), dispatches each command to the service module that
registered it (L{tcpbridge.registry}), and formats the answers (C{ATV},
C{ATQ}, C{+CMEE}).  It knows no command by name.  It knows only the states
every service shares::

    IDLE --a service starts--> LISTENING (command mode goes on)
      |                            |
      +--a service opens--> CONNECTING (input held; ETX cancels)
                                   |
                                   v
    IDLE <--session ends-- DATA --host ETX--> CLOSING --> IDLE

and it hands the line to a L{tcpbridge.session.Session} in data mode.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Type

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer, IReactorTCP, ITransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge import dle, registry
from tcpbridge.atcommands import ACTION, READ, SET, TEST, Command, parseLine
from tcpbridge.commandline import CommandLineReceiver
from tcpbridge.config import BridgeConfig
from tcpbridge.counters import Counters
from tcpbridge.parameters import profileId, runParameter
from tcpbridge.profile import Profile
from tcpbridge.registry import CLOSING, CONNECTING, DATA, IDLE, LISTENING
from tcpbridge.results import BUSY, FINAL, LINK_DOWN, SYNTAX_ERROR, UNKNOWN_COMMAND, ATError
from tcpbridge.session import Session
from tcpbridge.splice import Throttle
from tcpbridge.trace import FROM_HOST, Trace, openTrace

_FORMS = {ACTION: "a", SET: "s", READ: "r", TEST: "t"}

ETX = b"\x03"


class Modem(CommandLineReceiver):
    """
    One bridge's serial-side protocol.

    @ivar state: L{IDLE}, L{LISTENING}, L{CONNECTING}, L{DATA} or
        L{CLOSING}.
    @ivar services: each registered service, by name.
    @ivar running: the service that runs (listening, opening, or in a
        session), if any, and C{activeProfile} the profile it runs with.
    @ivar session: the data-mode session, while there is one.
    """

    log = Logger()

    def __init__(self, config: BridgeConfig, reactor: IReactorTCP) -> None:
        self.config = config
        self.lineLimit = config.line_limit
        self.lfEnds = config.line_end == "cr-or-lf"
        self.name = config.name
        self.reactor = reactor
        self.profile = Profile(config.parameters, config.profile, config.name)
        self.state = IDLE
        self.running: Optional[registry.Service] = None
        self.activeProfile = 0
        self.session: Optional[Session] = None
        #: Sessions the host has closed whose peer has not yet closed.
        self.lingering: Set[Session] = set()
        self.counters = Counters(reactor)
        self.linkUp = config.link == "auto"
        self.echo, self.verbose, self.quiet, self.cmee, self.s3, self.s5 = True, True, False, 0, 13, 8
        self.trace: Optional[Trace] = openTrace(config.trace, config.name)
        self._byClass: Dict[Type[registry.Service], registry.Service] = {}
        self.services: Dict[str, registry.Service] = {}
        for cls in registry.SERVICES:
            self._byClass[cls] = self.services[cls.name] = cls(self)
        self.applySettings(self.settings(factory=True))
        self._resetLine()
        #: Fires once the serial line is closed or lost.
        self.lost: Deferred = Deferred()
        if self.loadProfile():
            self.log.info(
                "{bridge}: parameters read from {path}", bridge=self.name, path=config.profile
            )

    def connectionMade(self) -> None:
        """
        The serial line is open (at start-up, or again after a loss): start
        in command mode, with the parameters and settings kept.
        """
        self._resetLine()
        if self.lost.called:
            self.lost = Deferred()
        self._guard = Throttle(self.transport, self._drain)
        self._guard.guard()
        for service in self.services.values():
            service.lineOpened()

    def _resetLine(self) -> None:
        """
        Command mode, with nothing half-typed, held or pending.  In command
        mode the host's own answers are what can pile up: C{_guard} stops
        reading the host while the serial write buffer is full.
        """
        self.state = IDLE
        self.running = None
        self.resetLine()
        self._pending = b""
        self._busy = False
        self._holding = False
        self._reader: Optional[Callable[[bytes], None]] = None
        self._afterResult: List[Callable[[], None]] = []

    # -- settings saved with AT&W -------------------------------------------

    def settings(self, factory: bool = False) -> Dict[str, Any]:
        """
        Every service's settings, as C{AT&W} saves them (C{factory}: as
        C{AT&F} restores them).
        """
        saved: Dict[str, Any] = {}
        for service in self.services.values():
            saved.update(service.factorySettings() if factory else service.settings())
        return saved

    def applySettings(self, settings: Dict[str, Any]) -> None:
        """Hand saved settings to every service."""
        for service in self.services.values():
            service.applySettings(settings)

    def loadProfile(self) -> bool:
        """
        Take the parameters and settings saved in the profile file, if
        there is one (a broken one is logged and the defaults kept).
        """
        loaded = self.profile.restore()
        self.applySettings(self.profile.settings)
        return loaded

    # -- serial input -----------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """
        Route serial bytes: to the session in data mode, otherwise to the
        command line (held back while a command or a close is in progress).
        """
        if self.trace is not None:
            self.trace(FROM_HOST, data)
        session = self.session
        if self.state == DATA and self._reader is None and session is not None:
            # Every read at line rate: the hand-over's LF is looked for
            # only while one may still come.
            if self._lfBy is not None:
                data = self.handedOver(data, self.reactor.seconds)
            session.fromHost(data)
        else:
            self._route(data)

    def _route(self, data: bytes) -> None:
        if self.acceptingInput():
            self.commandInput(data)
        else:
            self.hold(data)

    def hold(self, data: bytes) -> None:
        """
        Input the command line does not take now: the session's in data
        mode, the reader's while a command reads it itself (L{capture});
        otherwise kept for when the command (or close) in progress is done,
        but a bare ETX while a connection is being opened cancels it.
        """
        if self._reader is not None:
            self._reader(self.handedOver(data, self.reactor.seconds))
        elif self.state == DATA:
            assert self.session is not None
            self.session.fromHost(self.handedOver(data, self.reactor.seconds))
        elif self.state == CONNECTING and ETX in data:
            at = data.index(ETX)
            self._pending += data[:at] + data[at + 1 :]
            assert self.running is not None
            self.running.cancel("cancelled by the host")
        else:
            self._pending += data

    def capture(self, reader: Optional[Callable[[bytes], None]]) -> None:
        """
        While the running command waits, hand the host's input to C{reader}
        (a text prompt) instead of holding it; L{None} ends that.
        """
        self._reader = reader
        self.handOver(self.reactor.seconds(), text=True)

    def acceptingInput(self) -> bool:
        # Not while a command runs, nor while the host leaves its answers
        # unread (a read may hold hundreds of command lines).
        return not self._busy and not self._guard.paused and self.state in (IDLE, LISTENING)

    def etxReceived(self) -> None:
        # Firmware sends a few at start-up to make sure no session is left
        # open; a running service may stop on one.
        if self.state == LISTENING and self.running is not None:
            self.running.bareETX()

    def lineReceived(self, line: str) -> None:
        commands, error = parseLine(line)
        self.run(commands, error)

    def run(
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
                self.error(e.code)
                self._lineDone()
                return
            except Exception:
                # A bug must cost one ERROR, never the serial line.
                self.log.failure("{bridge}: {command} failed", bridge=self.name, command=command)
                self.error(SYNTAX_ERROR)
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
                        self.run(rest, error, outcome is FINAL)
                    self._drain()

                def failed(f: Failure) -> None:
                    self._busy = False
                    code = f.value.code if f.check(ATError) else SYNTAX_ERROR
                    if not f.check(ATError):
                        self.log.failure("{bridge}: command failed", f, bridge=self.name)
                    self.error(code)
                    self._lineDone()
                    self._drain()

                result.addCallbacks(done, failed)
                return
        if error is not None:
            self.error(SYNTAX_ERROR)
        elif not final:
            self.result("OK")
        self._lineDone()

    def _lineDone(self) -> None:
        """
        The final result is out: now apply what must wait for it (a new
        line speed).
        """
        after, self._afterResult = self._afterResult, []
        for action in after:
            action()
        self.answered()

    def afterResult(self, action: Callable[[], None]) -> None:
        """Run C{action} once the line's final result has been written."""
        self._afterResult.append(action)

    def _drain(self) -> None:
        pending, self._pending = self._pending, b""
        if pending:
            # Traced when they came: held, not received again.
            self._route(pending)

    def _dispatch(self, command: Command) -> Optional[Deferred]:
        spec = registry.COMMANDS.get(command.name)
        if spec is not None:
            if command.kind == TEST and "t" not in spec.forms:
                if spec.help:
                    self.info(spec.help)
                return None
            if _FORMS[command.kind] not in spec.forms:
                raise ATError(SYNTAX_ERROR)
            service = self._byClass[registry.OWNERS[command.name]]
            return getattr(service, spec.handler)(command)  # type: ignore[no-any-return]
        parameter = registry.PARAMETERS.get(command.name)
        if parameter is not None:
            runParameter(self, parameter, command)
            return None
        raise ATError(UNKNOWN_COMMAND)

    # -- services and sessions ---------------------------------------------

    def idle(self) -> None:
        """Refuse (CME error 37123) while a service runs."""
        if self.state != IDLE:
            raise ATError(BUSY)

    def ipStart(self, command: Command) -> int:
        """
        The profile an IP service's start command names, once it may start:
        refused (37123) while a service runs, and (35867) while the IP link
        is down.  Every service hears of it (GPRS attaches).
        """
        pid = profileId(command)
        self.idle()
        if not self.linkUp:
            raise ATError(LINK_DOWN)
        for service in self.services.values():
            service.ipStarting()
        return pid

    def runs(self, name: str) -> bool:
        """Whether the service called C{name} is running."""
        return self.running is not None and self.running.name == name

    def claim(self, service: registry.Service, pid: int, state: str) -> None:
        """C{service} starts with profile C{pid}: listening (command mode goes
        on) or connecting (the host's input is held)."""
        self.idle()
        self.running, self.activeProfile, self.state = service, pid, state

    def streamToHost(self, producer: Optional[IPushProducer]) -> None:
        """Hold C{producer} (a mail to the host) on the serial line's writing;
        L{None} gives that back to command mode's guard."""
        if self.transport is not None:
            self._guard.lend(producer)

    def release(self) -> None:
        """The running service stopped without a session: command mode."""
        self.running, self.state = None, IDLE

    def openSession(
        self,
        peer: ITransport,
        dleMode: bool,
        txDelay: float,
        description: str,
        result: str = "Ok_Info_WaitingForData",
        finish: Optional[Callable[[], Any]] = None,
    ) -> Session:
        """
        The running service opened a connection to C{peer}: tell the host
        (C{result}) and hand the line to a new session.

        @param txDelay: seconds the host's bytes may gather (0: none).
        @param description: the peer, as the log names it.
        @param finish: once the session has ended, gives (or a Deferred
            fires with) the result codes that end it, or fails with an
            L{ATError}; by default C{Ok_Info_SocketClosed} and C{OK}.
        """
        self._guard.unguard()
        session = self.session = Session(self, peer, dleMode, txDelay, description, finish)
        self.state = DATA
        self.handOver(self.reactor.seconds())
        self.result(result)
        if not self._busy:
            self._drain()
        return session

    def hostClosing(self, rest: bytes) -> None:
        """
        The host ended the session: hold its further bytes (C{rest} first)
        in the tty until the session has been closed.
        """
        self.state = CLOSING
        self._pending = rest + self._pending
        self.transport.pauseProducing()
        self._holding = True

    def leaveDataMode(self, session: Session, etx: bool) -> None:
        """
        C{session} ended: report to the host (C{etx}: with a bare ETX first)
        and return to command mode once the session's C{finish} gives the
        final answer.
        """
        if session is not self.session:
            return
        self.session = None
        if self.transport is None or not self.transport.connected:
            self.release()
            return
        if etx:
            self.write(dle.ETX)
        # Input waits until the service has its final answer.
        self.state = CLOSING
        session.finalAnswer().addCallback(lambda answer: self._finished(*answer))

    def _finished(self, results: Sequence[str], error: Optional[int]) -> None:
        """
        The session's final answer: C{results}, then the CME error C{error}
        if there is one; then command mode.
        """
        self.release()
        if self.transport is None:
            return
        for name in results:
            self.result(name)
        if error is not None:
            self.error(error)
        if self._holding:
            self._holding = False
            self.transport.resumeProducing()
        self._guard.guard()
        self.sendUnsolicited()
        self._drain()

    # -- the serial line itself ---------------------------------------------

    def shutdown(self) -> None:
        """
        Stop every service and close any session (service stop, device
        loss).
        """
        for service in self.services.values():
            service.shutdown()
        if self.session is not None:
            self.session.shutdown()
        for session in list(self.lingering):
            session.peer.abortConnection()

    def close(self) -> None:
        """The bridge stops for good: close the trace file."""
        for service in self.services.values():
            service.close()
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
