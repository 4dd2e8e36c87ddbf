"""
Resolving a host name without blocking the reactor, for the services that
open their own sockets (UDP, ping) rather than going through a Twisted
endpoint.

The reactor's own name resolver does the work (the box's resolver, in
Twisted's thread pool), so a slow DNS server never holds the other bridges.
An address literal is taken as it is, with no lookup.
"""

import ipaddress
from typing import Any, List, Sequence, Type

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IHostResolution, IResolutionReceiver
from zope.interface import implementer

#: Both address families, IPv4 first.
ANY_FAMILY: Sequence[Type[Any]] = (IPv4Address, IPv6Address)


@implementer(IResolutionReceiver)
class _Addresses:
    """
    Collects the addresses of one lookup and fires a Deferred with them.
    """

    def __init__(self) -> None:
        self.addresses: List[str] = []
        self.done: Deferred = Deferred()

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        host = address.host
        if host not in self.addresses:
            self.addresses.append(host)

    def resolutionComplete(self) -> None:
        self.done.callback(self.addresses)


def isAddress(text: str) -> bool:
    """
    Whether C{text} is an IPv4 or IPv6 address literal.
    """
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def resolve(
    reactor: Any, name: str, addressTypes: Sequence[Type[Any]] = ANY_FAMILY
) -> "Deferred[List[str]]":
    """
    The addresses of C{name}, of the types asked for; an empty list when
    the name does not resolve.
    """
    if isAddress(name):
        family = IPv6Address if ":" in name else IPv4Address
        return succeed([name] if family in addressTypes else [])
    receiver = _Addresses()
    reactor.nameResolver.resolveHostName(
        receiver, name, 0, addressTypes=list(addressTypes), transportSemantics="UDP"
    )
    return receiver.done
