"""
Opening the session as a client (C{AT#OTCP}).

The name is resolved and the connection made by a Twisted endpoint, so
nothing blocks the reactor; over TLS the session opens only once the
server's certificate and name have been checked.  The same L{PeerProtocol}
as a listening session carries the data.
"""

from typing import Any, Optional, Tuple

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory

from tcpbridge.listener import PeerHandler, PeerProtocol


class _PeerFactory(Factory):
    noisy = False

    def __init__(self, handler: PeerHandler, tls: bool) -> None:
        self.handler = handler
        self.tls = tls

    def buildProtocol(self, addr: Any) -> PeerProtocol:
        return PeerProtocol(self.handler, tls=self.tls)


def clientEndpoint(
    reactor: Any,
    host: str,
    port: int,
    timeout: float,
    outport: int = 0,
    tlsOptions: Optional[Any] = None,
) -> IStreamClientEndpoint:
    """
    The endpoint C{AT#OTCP} connects with: a host name or address, an
    optional local port, optionally wrapped in TLS.
    """
    bindAddress: Optional[Tuple[str, int]] = ("", outport) if outport else None
    endpoint: IStreamClientEndpoint = HostnameEndpoint(
        reactor, host, port, timeout=timeout, bindAddress=bindAddress
    )
    if tlsOptions is not None:
        endpoint = wrapClientTLS(tlsOptions, endpoint)
    return endpoint


def connect(endpoint: IStreamClientEndpoint, handler: PeerHandler, tls: bool) -> Deferred:
    """
    Connect; the Deferred fires with the L{PeerProtocol} once TCP is up
    (the session itself opens through C{handler.peerConnected}, after the
    TLS handshake over TLS).
    """
    return endpoint.connect(_PeerFactory(handler, tls))
