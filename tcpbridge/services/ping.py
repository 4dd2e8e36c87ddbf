"""
The ping service: C{AT#PING} and its parameters (C{AT#VPING}).

C{AT#PING} resolves C{PINGREMOTE}, then sends C{PINGNUM} ICMP echo
requests, one every C{PINGDELAY} seconds, and answers one line for each:
C{"<PINGREMOTE>" is alive : time = <ms> ms} when its reply comes within
C{PINGDELAY} seconds, C{NO answer from "<PINGREMOTE>"} when it does not;
then C{OK}.  A bare ETX stops it early (C{OK}); C{PINGNUM} 0 pings until
one comes.  The echo goes through L{tcpbridge.icmp}: real ICMP, read by the
reactor.
"""

import math
import socket
from typing import Any, Callable, Optional

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge.atcommands import Command
from tcpbridge.icmp import HOW_TO_ALLOW, EchoSocket, NoICMP
from tcpbridge.parameters import Parameter, integer, server
from tcpbridge.registry import CONNECTING, CommandSpec, Service
from tcpbridge.resolve import resolve
from tcpbridge.results import BAD_VALUE, DNS_FAILED, NOT_ALLOWED, ATError

#: The CME error when this process may open no ICMP socket (3GPP 27.007
#: "operation not allowed").
PING_NOT_ALLOWED = NOT_ALLOWED


def remote(text: str) -> str:
    """
    Check C{PINGREMOTE}: an IPv4 address, a host name, or empty (not set).
    """
    return text if text == "" else server(text)


def _ping(name: str, default: object, parse: object, allowed: str, quoted: bool = False) -> Parameter:
    return Parameter(name, default, parse, allowed, quoted=quoted, listing="#VPING")  # type: ignore[arg-type]


class Ping(Service):
    """
    One bridge's ping: at most one C{AT#PING} at a time.

    @ivar socketFactory: makes the ICMP socket (a test gives a fake one).
    """

    log = Logger()

    name = "ping"
    commands = {
        "#PING": CommandSpec("ping", "as", "#PING: (1-2)"),
        "#VPING": CommandSpec("listing", "as", "#VPING: (1-2)"),
    }
    parameters = [
        _ping(
            "#PINGREMOTE", "", remote, '"<IPv4 address or host name, up to 120 characters>"',
            quoted=True,
        ),
        _ping("#PINGNUM", 4, integer(0, 255), "(0-255)"),
        _ping("#PINGDELAY", 1, integer(1, 255), "(1-255)"),
    ]

    socketFactory: Callable[..., Any] = socket.socket

    def __init__(self, modem: Any) -> None:
        Service.__init__(self, modem)
        self._done: Optional[Deferred] = None
        self._echo: Optional[EchoSocket] = None
        self._timer: Optional[IDelayedCall] = None

    def ping(self, command: Command) -> Deferred:
        m = self.modem
        pid = m.ipStart(command)
        target = m.profile.get("#PINGREMOTE", pid)
        count = m.profile.get("#PINGNUM", pid)
        delay = m.profile.get("#PINGDELAY", pid)
        assert isinstance(target, str) and isinstance(count, int) and isinstance(delay, int)
        if not target:
            raise ATError(BAD_VALUE)
        m.claim(self, pid, CONNECTING)
        done = self._done = Deferred()
        self.target, self.remaining, self.delay = target, count or None, float(delay)
        self.sequence, self.answered, self.sentAt = 0, True, 0.0

        def resolved(addresses: Any) -> None:
            if done is not self._done:
                return
            if not addresses:
                self._fail("%s does not resolve" % (target,), DNS_FAILED)
                return
            try:
                self._echo = EchoSocket(m.reactor, addresses[0], self._reply, self.socketFactory)
            except NoICMP as e:
                self.log.error(
                    "{bridge}: AT#PING cannot open an ICMP socket ({error}): {how}",
                    bridge=m.name,
                    error=e,
                    how=HOW_TO_ALLOW,
                )
                self._fail(str(e), PING_NOT_ALLOWED)
                return
            self.log.info(
                "{bridge}: pinging {target} ({address}) over a {kind} ICMP socket",
                bridge=m.name,
                target=target,
                address=addresses[0],
                kind="raw" if self._echo.raw else "unprivileged",
            )
            self._next()

        def failed(f: Failure) -> None:
            if done is self._done:
                self._fail(f.getErrorMessage(), DNS_FAILED)

        resolve(m.reactor, target, [IPv4Address]).addCallbacks(resolved, failed)
        return done

    # -- the echo requests ---------------------------------------------------------

    def _next(self) -> None:
        """
        Report the last request if it got no answer, then send the next
        one, or end.
        """
        self._timer = None
        if not self.answered:
            self.modem.info('NO answer from "%s"' % (self.target,))
        if self.remaining == 0:
            self._end()
            return
        if self.remaining is not None:
            self.remaining -= 1
        assert self._echo is not None
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.answered = False
        self.sentAt = self.modem.reactor.seconds()
        error = self._echo.send(self.sequence)
        if error is not None:
            self.log.info("{bridge}: ping not sent: {error}", bridge=self.modem.name, error=error)
        # PINGDELAY is both how long a reply may take and the gap.
        self._timer = self.modem.reactor.callLater(self.delay, self._next)

    def _reply(self, sequence: int) -> None:
        if self.answered or sequence != self.sequence or self._done is None:
            return
        self.answered = True
        # Whole milliseconds, rounded up: a reply never takes no time.
        ms = math.ceil((self.modem.reactor.seconds() - self.sentAt) * 1000 - 1e-6)
        self.modem.info('"%s" is alive : time = %d ms' % (self.target, ms))
        if self.remaining == 0:
            # The last one: no gap to wait for.
            self._end()

    def _stop(self) -> Optional[Deferred]:
        """
        Stop sending and close the socket; the command's Deferred, if it
        still waits.
        """
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._echo is not None:
            self._echo.close()
            self._echo = None
        done, self._done = self._done, None
        if done is not None:
            self.modem.release()
        return done

    def _end(self) -> None:
        done = self._stop()
        if done is not None:
            done.callback(None)

    def _fail(self, why: str, code: int) -> None:
        self.log.info("{bridge}: AT#PING failed: {error}", bridge=self.modem.name, error=why)
        done = self._stop()
        if done is not None:
            done.errback(ATError(code))

    def cancel(self, why: str) -> None:
        """
        The host's bare ETX (or the line closing): stop now, C{OK}.
        """
        if self._done is not None:
            self.log.info("{bridge}: AT#PING {why}", bridge=self.modem.name, why=why)
            self._end()

    def shutdown(self) -> None:
        self.cancel("stopped: the serial line is closing")

