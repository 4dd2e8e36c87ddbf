"""
Listening for one session: the address filter, and a
server factory that admits the first allowed connection and no other.

A refused connection gets no protocol at all: Twisted then closes the
accepted socket at once, so not a byte is read from it or written to it.
"""

import ipaddress
from typing import Any, Callable, Optional, Sequence, Union

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IHandshakeListener,
    IListeningPort,
    IStreamServerEndpoint,
)
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from zope.interface import alsoProvides, implementer

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

EVERYONE = "255.255.255.255"


def _address(host: str) -> Union[ipaddress.IPv4Address, ipaddress.IPv6Address, None]:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


class AdmissionFilter:
    """
    Decides whether a peer address may open a session: it must match the
    host's C{TCPSERV} (unless that is C{255.255.255.255}) and the operator's
    C{allow} list (if there is one).
    """

    def __init__(self, tcpserv: str, allow: Optional[Sequence[Network]] = None) -> None:
        self.tcpserv = tcpserv
        self.allow = allow

    def refusal(self, host: str) -> Optional[str]:
        """
        Why the peer at C{host} is refused, or L{None} if it is admitted.
        """
        address = _address(host)
        if address is None:
            return "not an IP address"
        if self.allow is not None and not any(address in net for net in self.allow):
            return "not in the allow list"
        if self.tcpserv != EVERYONE and _address(self.tcpserv) != address:
            return "not TCPSERV %s" % (self.tcpserv,)
        return None


@implementer(IHandshakeListener, IHalfCloseableProtocol)
class PeerProtocol(Protocol, TimeoutMixin):
    """
    The TCP side of a session, listening or dialling: hands everything to
    its session handler (the modem), which owns the data path.

    Over TLS the session opens only once the handshake (and the peer's
    certificate check) has succeeded; until then nothing reaches the host
    and nothing of the host's is sent.

    A TLS client that does not finish its handshake within
    L{HANDSHAKE_TIMEOUT} seconds is dropped, so idle connections cannot
    pile up while listening.

    @ivar ready: whether the session is open.
    """

    HANDSHAKE_TIMEOUT = 30.0

    def __init__(
        self,
        handler: "PeerHandler",
        tls: bool = False,
        admit: Optional[Callable[["PeerProtocol"], bool]] = None,
    ) -> None:
        self.handler = handler
        self.tls = tls
        self.admit = admit
        self.ready = False

    def connectionMade(self) -> None:
        _keepHalfClose(self)
        if not self.tls:
            self._open()
        else:
            self.setTimeout(self.HANDSHAKE_TIMEOUT)

    def handshakeCompleted(self) -> None:
        if self.tls:
            self.setTimeout(None)
            self._open()

    def timeoutConnection(self) -> None:
        self.transport.abortConnection()

    def _open(self) -> None:
        if self.admit is not None and not self.admit(self):
            self.transport.abortConnection()
            return
        self.ready = True
        self.handler.peerConnected(self)

    def dataReceived(self, data: bytes) -> None:
        if self.ready:
            self.handler.peerData(data)

    def readConnectionLost(self) -> None:
        # The peer sent its FIN: the session is over.  What is still on its
        # way to the peer is sent first, then our side closes too.
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        # Our FIN is out (a host-requested close).
        self.handler.peerWriteClosed(self)

    def connectionLost(self, reason: object) -> None:
        self.setTimeout(None)
        if self.ready:
            self.handler.peerLost(self, reason)
        else:
            self.handler.peerFailed(self, reason)


def _keepHalfClose(protocol: Protocol) -> None:
    """
    Make the transport report a half-close to C{protocol} even through the
    wrapper Twisted's client endpoints put around it.

    That wrapper copies the protocol's interfaces one by one with
    C{directlyProvides}, each call replacing the last, so a protocol that
    is both half-closeable and a handshake listener loses the first: the
    transport would then never say that the host's FIN is out, and would
    treat the peer's FIN as a full close.
    """
    wrapper = getattr(protocol.transport, "protocol", None)
    if (
        wrapper is not None
        and wrapper is not protocol
        and getattr(wrapper, "_wrappedProtocol", None) is protocol
        and not IHalfCloseableProtocol.providedBy(wrapper)
    ):
        alsoProvides(wrapper, IHalfCloseableProtocol)


class PeerHandler:
    """
    What L{PeerProtocol} calls; the modem implements it.
    """

    def peerConnected(self, protocol: PeerProtocol) -> None:
        """
        The session is open (after the TLS handshake, over TLS).
        """
        raise NotImplementedError()

    def peerData(self, data: bytes) -> None:
        raise NotImplementedError()

    def peerLost(self, protocol: PeerProtocol, reason: object) -> None:
        """
        An open session's connection is gone.
        """
        raise NotImplementedError()

    def peerWriteClosed(self, protocol: PeerProtocol) -> None:
        """
        The sending side of the session's connection is closed (the host
        closed the session).
        """
        raise NotImplementedError()

    def peerFailed(self, protocol: PeerProtocol, reason: object) -> None:
        """
        A connection was lost before its session opened (TLS handshake or
        certificate check failed).
        """
        raise NotImplementedError()


class OneSessionFactory(ServerFactory):
    """
    Admits the first connection that passes the filter, then no other.

    Over TLS, several allowed clients may be shaking hands at once; the
    first to finish with a valid certificate gets the session.

    @ivar rejected: how many connections were refused.
    """

    log = Logger()
    noisy = False

    #: The bridge's counts (L{tcpbridge.counters.Counters}), if kept.
    counters: Optional[Any] = None

    def __init__(
        self,
        admission: AdmissionFilter,
        handler: PeerHandler,
        name: str = "",
        tls: bool = False,
    ) -> None:
        self.admission = admission
        self.handler = handler
        self.name = name
        self.tls = tls
        self.admitted = False
        self.rejected = 0

    def logPrefix(self) -> str:
        # Twisted's own "... starting on PORT" line then names the bridge.
        return "%s: listening socket" % (self.name,)

    def buildProtocol(self, addr: IAddress) -> Optional[Protocol]:
        host = getattr(addr, "host", "")
        if self.admitted:
            reason: Optional[str] = "a session is already open"
        else:
            reason = self.admission.refusal(host)
        if reason is not None:
            self.refused(host, reason)
            return None
        if self.tls:
            return PeerProtocol(self.handler, tls=True, admit=self._admitSecure)
        self.admitted = True
        return PeerProtocol(self.handler)

    def refused(self, peer: str, reason: str) -> None:
        """
        Count and log a refused connection.
        """
        self.rejected += 1
        if self.counters is not None:
            self.counters.refusedFor(reason)
        self.log.info(
            "{bridge}: refused connection from {peer}: {reason}",
            bridge=self.name,
            peer=peer,
            reason=reason,
        )

    def _admitSecure(self, protocol: PeerProtocol) -> bool:
        if self.admitted:
            peer = getattr(protocol.transport.getPeer(), "host", "?")
            self.refused(peer, "a session is already open")
            return False
        self.admitted = True
        return True


class Listener:
    """
    One listening socket, from C{AT#LTCPSTART} until the session is admitted
    or the host stops it.
    """

    def __init__(self, endpoint: IStreamServerEndpoint, factory: OneSessionFactory) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self.port: Optional[IListeningPort] = None

    def start(self) -> "Deferred[IListeningPort]":
        """
        Bind the socket; the Deferred fires once it is listening.
        """

        def bound(port: IListeningPort) -> IListeningPort:
            self.port = port
            if hasattr(port, "_logConnectionLostMsg"):
                # Twisted's own "(TCP Port N Closed)" names no bridge.
                number = port.getHost().port
                factory = self.factory
                port._logConnectionLostMsg = lambda: factory.log.info(  # type: ignore
                    "{bridge}: listening socket on port {port} closed",
                    bridge=factory.name,
                    port=number,
                )
            return port

        return self.endpoint.listen(self.factory).addCallback(bound)

    def stop(self) -> "Deferred[None]":
        """
        Close the listening socket (a session already admitted goes on).
        """
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        return port.stopListening()
