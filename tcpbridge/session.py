"""
The data-mode session, written once for every service that opens one: the
host on the serial line, the peer on a connection.

It joins the two through a L{Splice} (backpressure, DLE coding, segment
gathering), and owns how a session ends: the host's closing ETX, the peer's
close, the idle time-out, the operator's stop.  It counts the bytes, writes
the trace, and logs one line when the session ends.  The service that opened
it only says what the peer transport is; the modem (the line discipline) is
told when data mode starts and ends.
"""

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Tuple

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, INegotiated, ITCPTransport, ITransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge.keepalive import enableKeepalive
from tcpbridge.results import SYNTAX_ERROR, ATError
from tcpbridge.splice import Splice
from tcpbridge.trace import FROM_PEER

if TYPE_CHECKING:
    from tcpbridge.modem import Modem

#: Seconds a host-requested close may wait for the peer to take the last
#: bytes before the connection is aborted.
CLOSE_TIMEOUT = 30.0

#: Seconds the peer has, once the host's FIN is out (and the host has its
#: answer), to close its side before the connection is closed anyway.
CLOSE_GRACE = 5.0


class Session:
    """
    One data-mode session.

    It takes the place of the service as the peer protocol's handler
    (L{tcpbridge.listener.PeerHandler}) once the session is open.

    @ivar peer: the peer's transport.
    @ivar splice: the data path while the session is open.
    @ivar description: the peer, as the log names it.
    """

    log = Logger()

    def __init__(
        self,
        modem: "Modem",
        peer: ITransport,
        dleMode: bool,
        txDelay: float,
        description: str,
        finish: Optional[Callable[[], Any]] = None,
    ) -> None:
        """
        @param txDelay: seconds the host's bytes may gather before they
            leave (0: at once).
        @param finish: see L{finish}.
        """
        if finish is not None:
            self.finish = finish  # type: ignore[method-assign]
        self.modem = modem
        self.reactor = modem.reactor
        self.peer = peer
        self.description = description
        self.dleMode = dleMode
        self.splice = Splice(modem.transport, peer, dleMode, txDelay, self.reactor, modem.trace)
        self.closingByHost = False
        self.answered = False
        self._droppedAtAnswer = 0
        self.dropped = 0
        self._closeTimer: Optional[IDelayedCall] = None
        self._graceTimer: Optional[IDelayedCall] = None
        self._idleTimer: Optional[IDelayedCall] = None
        self.lastActivity = self.reactor.seconds()
        #: Whether activity is timed at all (only for an idle time-out).
        self._timed = bool(modem.config.idle_timeout)
        modem.counters.opened(self)
        enableKeepalive(peer, modem.config.keepalive)
        self.log.info(
            "{bridge}: session from {peer} opened (DLEMODE {dlemode})",
            bridge=modem.name,
            peer=description,
            dlemode=int(dleMode),
        )
        timeout = modem.config.idle_timeout
        if timeout:
            self._idleTimer = self.reactor.callLater(timeout, self._checkIdle)

    # -- the host's side ------------------------------------------------------

    def fromHost(self, data: bytes) -> None:
        """
        Bytes the host sent in data mode.
        """
        if self._timed:
            self.lastActivity = self.reactor.seconds()
        rest = self.splice.fromHost(data)
        if rest is not None:
            self.hostClose(rest)

    def hostClose(self, rest: bytes = b"") -> None:
        """
        The host ended the session (a bare ETX, or its DTR dropped, with
        C{rest} the bytes that followed): the bytes before it are already on their
        way; shut the sending side once they are sent (FIN), and answer the
        host as soon as that is done, whatever the peer does.

        The connection is not closed whole at first, and the peer is still
        read (what it sends now is dropped: the host has closed): closing a
        socket with unread bytes in it makes the kernel send a reset, which
        can destroy the host's last bytes before the peer has read them.
        """
        self.closingByHost = True
        self.modem.hostClosing(rest)
        self.splice.flush()
        self.splice.unsplice()
        transport = self.peer
        # A peer whose window stays shut cannot take the last bytes: give up.
        self._closeTimer = self.reactor.callLater(CLOSE_TIMEOUT, transport.abortConnection)
        if ITCPTransport.providedBy(transport) and not INegotiated.providedBy(transport):
            transport.loseWriteConnection()
        else:
            # TLS has no half-close here (Twisted's TLS wrapper would shut
            # the TCP side under its own unsent bytes): close_notify, then
            # close, once everything is sent.
            transport.loseConnection()

    # -- the peer's side ------------------------------------------------------

    def peerData(self, data: bytes) -> None:
        """
        Bytes from the peer: to the host, or dropped once the host closed.
        """
        if self.modem.trace is not None:
            self.modem.trace(FROM_PEER, data)
        if self._timed:
            self.lastActivity = self.reactor.seconds()
        if self.closingByHost:
            self.dropped += len(data)
        elif not self.answered:
            self.splice.fromPeer(data)

    def peerWriteClosed(self, protocol: object) -> None:
        """
        The host's last bytes and the FIN are handed to the kernel: answer
        the host now.  The connection lingers in the background, read and
        dropped, until the peer closes or L{CLOSE_GRACE} seconds pass.
        """
        if not self.closingByHost or self.answered:
            return
        self._cancel(self._closeTimer)
        self._closeTimer = None
        self._graceTimer = self.reactor.callLater(CLOSE_GRACE, self.peer.loseConnection)
        self.modem.lingering.add(self)
        self._answer()

    def peerLost(self, protocol: object, reason: object) -> None:
        """
        The connection is gone: answer the host if that is not done yet,
        and stop lingering.
        """
        for timer in (self._closeTimer, self._idleTimer, self._graceTimer):
            self._cancel(timer)
        self._closeTimer = self._idleTimer = self._graceTimer = None
        if not self.answered:
            self._answer()
            return
        self.modem.lingering.discard(self)
        late = self.dropped - self._droppedAtAnswer
        if late:
            self.log.info(
                "{bridge}: {count} bytes the peer at {peer} sent after the host's close dropped",
                bridge=self.modem.name,
                count=late,
                peer=self.description,
            )

    def _answer(self) -> None:
        """
        The session is over for the host: log it and hand the line back to
        command mode.
        """
        self.answered = True
        self.splice.unsplice()
        self._cancel(self._idleTimer)
        self._idleTimer = None
        self._droppedAtAnswer = self.dropped
        self.log.info(
            "{bridge}: session from {peer} closed by {closer}: "
            "{toPeer} bytes to the peer, {toHost} bytes to the host{dropped}",
            bridge=self.modem.name,
            peer=self.description,
            closer="the host" if self.closingByHost else "the peer",
            toPeer=self.splice.sentToPeer,
            toHost=self.splice.sentToHost,
            dropped=(
                ", %d bytes the peer sent after the host's close dropped" % (self.dropped,)
                if self.dropped
                else ""
            ),
        )
        self.modem.leaveDataMode(self, etx=not self.closingByHost and self.dleMode)

    @staticmethod
    def _cancel(timer: Optional[IDelayedCall]) -> None:
        if timer is not None and timer.active():
            timer.cancel()

    def finish(self) -> Any:
        """
        The result codes that end the session once it has ended (a service
        whose answer waits on a server returns a Deferred of them, or fails
        with an L{tcpbridge.results.ATError}).
        """
        return ("Ok_Info_SocketClosed", "OK")

    def finalAnswer(self) -> "Deferred[Tuple[Sequence[str], Optional[int]]]":
        """
        What L{finish} gives, as the result codes and the CME error code (or
        L{None}) the host is sent last.
        """

        def failed(f: Failure) -> Tuple[Sequence[str], Optional[int]]:
            if f.check(ATError):
                return (), f.value.code
            self.log.failure("{bridge}: ending the session failed", f, bridge=self.modem.name)
            return (), SYNTAX_ERROR

        return maybeDeferred(self.finish).addCallbacks(lambda results: (results, None), failed)

    # -- ending it otherwise ----------------------------------------------------

    def _checkIdle(self) -> None:
        """
        Close a session that moved no byte either way for C{idle_timeout}
        seconds, as if the peer had closed it.
        """
        self._idleTimer = None
        timeout = self.modem.config.idle_timeout
        if self.answered or self.closingByHost or not timeout:
            return
        quiet = self.reactor.seconds() - self.lastActivity
        if quiet < timeout:
            self._idleTimer = self.reactor.callLater(timeout - quiet, self._checkIdle)
            return
        self.log.info(
            "{bridge}: session from {peer} idle for {seconds} s: closing it",
            bridge=self.modem.name,
            peer=self.description,
            seconds=timeout,
        )
        self.peer.loseConnection()

    def shutdown(self) -> None:
        """
        Close the session now (service stop, serial line lost).
        """
        self.splice.unsplice()
        self.peer.loseConnection()
