"""
The TCP service: listening for one session (C{AT#LTCPSTART},
C{AT#LTCPSTOP}), dialling out (C{AT#OTCP}), and their parameters
(C{AT#VTCP}).

Listening binds the socket before C{OK}, admits the first connection that
C{TCPSERV} and the operator's C{allow} list admit, and closes the socket as
the session opens.  Dialling resolves and connects through a Twisted
endpoint, so nothing blocks; the host's ETX or the time-out cancels it.
Over TLS a session opens only once the handshake and the certificate check
have succeeded.  The session itself is a L{tcpbridge.session.Session}.
"""

from typing import Optional

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import SSL4ServerEndpoint, TCP4ServerEndpoint, TCP6ServerEndpoint
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IDelayedCall, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge.atcommands import ACTION, Command
from tcpbridge.dialer import clientEndpoint, connect
from tcpbridge.listener import (
    EVERYONE,
    AdmissionFilter,
    Listener,
    OneSessionFactory,
    PeerHandler,
    PeerProtocol,
)
from tcpbridge.parameters import Parameter, integer, isDottedQuad, profileId, server
from tcpbridge.registry import CONNECTING, LISTENING, CommandSpec, Service
from tcpbridge.results import (
    BAD_VALUE,
    DNS_FAILED,
    FINAL,
    TCP_OPEN_FAILED,
    ATError,
)
from tcpbridge.tls import clientOptions, serverOptions


def _tcp(name: str, default: object, parse: object, allowed: str, quoted: bool = False) -> Parameter:
    return Parameter(name, default, parse, allowed, quoted=quoted, listing="#VTCP")  # type: ignore[arg-type]


class TCP(Service, PeerHandler):
    """
    One bridge's TCP service: a listening socket, or a connection being
    dialled, then the session.

    @ivar listener: the listening socket, while listening.
    """

    log = Logger()

    name = "tcp"
    commands = {
        "#VTCP": CommandSpec("listing", "as", "#VTCP: (1-2)"),
        "#LTCPSTART": CommandSpec("ltcpstart", "as", "#LTCPSTART: (1-2)"),
        "#LTCPSTOP": CommandSpec("ltcpstop", "as", "#LTCPSTOP: (1-2)"),
        "#OTCP": CommandSpec("otcp", "as", "#OTCP: (1-2)"),
    }
    parameters = [
        _tcp(
            "#TCPSERV",
            EVERYONE,
            server,
            '"<IPv4 address or host name, up to 120 characters>"',
            quoted=True,
        ),
        _tcp("#TCPPORT", 0, integer(0, 65535), "(0-65535)"),
        _tcp("#DLEMODE", 1, integer(0, 1), "(0-1)"),
        _tcp("#TCPTXDELAY", 100, integer(0, 32760, 20), "(0-32760, multiple of 20)"),
        _tcp("#OUTPORT", 0, integer(0, 65535), "(0-65535)"),
    ]

    def __init__(self, modem: "object") -> None:
        Service.__init__(self, modem)  # type: ignore[arg-type]
        c = self.modem.config
        self.serverTLS = (
            serverOptions(c.tls_cert, c.tls_key or c.tls_cert, c.tls_ca) if c.tls_cert else None
        )
        self.listener: Optional[Listener] = None
        self._opening: Optional[Deferred] = None
        self._attempt: Optional[Deferred] = None
        self._dialing: Optional[PeerProtocol] = None
        self._openTimer: Optional[IDelayedCall] = None
        self._openAbandoned: Optional[str] = None

    # -- listening -----------------------------------------------------------

    def ltcpstart(self, command: Command) -> Deferred:
        m = self.modem
        pid = m.ipStart(command)
        port = m.profile.get("#TCPPORT", pid)
        tcpserv = m.profile.get("#TCPSERV", pid)
        assert isinstance(port, int) and isinstance(tcpserv, str)
        if not 1 <= port <= 65535 or not isDottedQuad(tcpserv):
            raise ATError(BAD_VALUE)
        factory = OneSessionFactory(
            AdmissionFilter(tcpserv, m.config.allow), self, m.name, tls=self.serverTLS is not None
        )
        factory.counters = m.counters
        listener = Listener(self._serverEndpoint(port), factory)
        self.listener = listener
        m.claim(self, pid, LISTENING)

        def bound(listening: object) -> None:
            self.log.info(
                "{bridge}: listening on {interface} port {port}, admitting {tcpserv}",
                bridge=m.name,
                interface=m.config.interface,
                port=port,
                tcpserv=tcpserv,
            )

        def notBound(f: Failure) -> None:
            self.log.warn(
                "{bridge}: cannot listen on port {port}: {error}",
                bridge=m.name,
                port=port,
                error=f.getErrorMessage(),
            )
            if self.listener is listener:
                self.listener = None
                m.release()
            raise ATError(TCP_OPEN_FAILED)

        return listener.start().addCallbacks(bound, notBound)

    def _serverEndpoint(self, port: int) -> IStreamServerEndpoint:
        interface = self.modem.config.interface
        reactor = self.modem.reactor
        if self.serverTLS is not None:
            return SSL4ServerEndpoint(reactor, port, self.serverTLS, interface=interface)
        if ":" in interface:
            return TCP6ServerEndpoint(reactor, port, interface=interface)
        return TCP4ServerEndpoint(reactor, port, interface=interface)

    def ltcpstop(self, command: Command) -> Optional[Deferred]:
        pid = profileId(command)
        if self.listener is None or pid != self.modem.activeProfile:
            return None
        return self._stopListening()

    def bareETX(self) -> None:
        # A bare ETX while listening stops the listening.
        if self.listener is not None:
            self.modem.run([Command("#LTCPSTOP", ACTION)], None)

    def _stopListening(self, release: bool = True) -> Deferred:
        listener, self.listener = self.listener, None
        assert listener is not None
        if release:
            self.modem.release()
        self.log.info("{bridge}: listening stopped", bridge=self.modem.name)
        return listener.stop()

    # -- the session opens -----------------------------------------------------

    def peerConnected(self, protocol: PeerProtocol) -> None:
        """
        A session is open (admitted while listening, or dialled): close the
        listening socket and hand the connection to a session.
        """
        m = self.modem
        if m.transport is None or not m.runs(self.name) or m.state not in (LISTENING, CONNECTING):
            protocol.transport.abortConnection()
            return
        if self.listener is not None:
            # One session at a time: the socket closes as this one opens.
            self._stopListening(release=False)
        opening = self._endOpen()
        address = protocol.transport.getPeer()
        description = "%s:%s" % (getattr(address, "host", "?"), getattr(address, "port", "?"))
        dleMode = m.profile.get("#DLEMODE", m.activeProfile) == 1
        delay = m.profile.get("#TCPTXDELAY", m.activeProfile)
        assert isinstance(delay, int)
        protocol.handler = m.openSession(protocol.transport, dleMode, delay / 1000.0, description)
        if opening is not None:
            opening.callback(FINAL)

    def peerFailed(self, protocol: PeerProtocol, reason: object) -> None:
        """
        A connection was lost before its session opened: a TLS handshake or
        certificate check failed.
        """
        error = reason.getErrorMessage() if isinstance(reason, Failure) else str(reason)
        if self.modem.state == CONNECTING and protocol is self._dialing:
            self._openFailed(reason if isinstance(reason, Failure) else Failure(Exception(error)))
        elif self.listener is not None:
            peer = getattr(protocol.transport.getPeer(), "host", "?")
            self.listener.factory.refused(peer, "TLS handshake failed: %s" % (error,))

    # -- dialling out ------------------------------------------------------------

    def otcp(self, command: Command) -> Deferred:
        m = self.modem
        pid = m.ipStart(command)
        host = m.profile.get("#TCPSERV", pid)
        port = m.profile.get("#TCPPORT", pid)
        outport = m.profile.get("#OUTPORT", pid)
        assert isinstance(host, str) and isinstance(port, int) and isinstance(outport, int)
        if not 1 <= port <= 65535 or host == EVERYONE:
            raise ATError(BAD_VALUE)
        c = m.config
        tlsOptions = None
        if c.tls:
            try:
                tlsOptions = clientOptions(host, c.tls_ca, c.tls_cert, c.tls_key)
            except Exception as e:
                self.log.error("{bridge}: TLS set-up failed: {error}", bridge=m.name, error=e)
                raise ATError(TCP_OPEN_FAILED)
        endpoint = clientEndpoint(m.reactor, host, port, c.connect_timeout, outport, tlsOptions)
        m.claim(self, pid, CONNECTING)
        self._openAbandoned = None
        opening = self._opening = Deferred()
        self._openTimer = m.reactor.callLater(c.connect_timeout, self.cancel, "timed out")
        self.log.info(
            "{bridge}: connecting to {host} port {port}{tls}",
            bridge=m.name,
            host=host,
            port=port,
            tls=" over TLS" if tlsOptions else "",
        )
        attempt = self._attempt = connect(endpoint, self, tls=tlsOptions is not None)

        def connected(protocol: PeerProtocol) -> None:
            if attempt is self._attempt:
                self._attempt = None
                if m.state == CONNECTING:
                    self._dialing = protocol

        def failed(f: Failure) -> None:
            if attempt is self._attempt:
                self._attempt = None
                self._openFailed(f)

        attempt.addCallbacks(connected, failed)
        # Not self._opening: a connection that fails at once has already
        # answered through it and cleared it.
        return opening

    def cancel(self, why: str) -> None:
        """
        Give up opening the connection (the host's ETX, or the time-out).
        """
        if self.modem.state != CONNECTING or not self.modem.runs(self.name):
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
        if self.modem.state != CONNECTING:
            return
        self.modem.release()
        opening = self._endOpen()
        why = self._openAbandoned
        self.log.info(
            "{bridge}: connection failed: {error}",
            bridge=self.modem.name,
            error=why or f.getErrorMessage(),
        )
        if opening is None:
            return
        if why == "cancelled by the host":
            opening.callback(None)
        else:
            code = errorCode(f) if why is None else TCP_OPEN_FAILED
            opening.errback(ATError(code or TCP_OPEN_FAILED))

    # -- the serial line closes ------------------------------------------------------

    def shutdown(self) -> None:
        if self.listener is not None:
            self._stopListening()
        if self.modem.state == CONNECTING:
            self.cancel("the serial line is closing")


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
