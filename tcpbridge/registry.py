"""
The registry of command families: which commands and parameters the modem
knows, and which service module runs each.

A service module declares a L{Service} subclass whose C{commands} and
C{parameters} tables sit next to the code that runs them, and registers it
with one line in L{tcpbridge.services}; the line discipline
(L{tcpbridge.modem}) then dispatches to it by name and knows no command
itself.
"""

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Sequence, Type

from tcpbridge.parameters import Parameter, profileId, show

if TYPE_CHECKING:
    from tcpbridge.atcommands import Command
    from tcpbridge.modem import Modem


# The line discipline's states, as services see them.
IDLE = "IDLE"  # command mode, no service running
LISTENING = "LISTENING"  # a service runs; command mode goes on
CONNECTING = "CONNECTING"  # a service opens a session; the host's input is held
DATA = "DATA"  # data mode: the line belongs to the session
CLOSING = "CLOSING"  # the host ended the session; its input is held


class CommandSpec(NamedTuple):
    """
    One command: the method of its service that runs it, the forms it
    takes (a: action C{AT#X}, s: set C{AT#X=...}, r: read C{AT#X?};
    C{=?} always works) and what C{=?} shows (t: the method answers
    C{=?} itself).
    """

    handler: str
    forms: str
    help: str = ""


class Service:
    """
    One family of commands, instantiated once per bridge.

    The hooks below are what the line discipline calls on every service;
    each does nothing unless a service needs it.

    @cvar name: the family's name; parameters it owns are refused while it
        runs (CME error 37123).
    @cvar commands: command name to L{CommandSpec}.
    @cvar parameters: the parameters it declares.
    """

    name = ""
    commands: Dict[str, CommandSpec] = {}
    parameters: Sequence[Parameter] = ()

    def __init__(self, modem: "Modem") -> None:
        self.modem = modem

    def listing(self, command: "Command") -> None:
        """
        A listing command (C{AT#VTCP}, C{AT#VSMTP}, ...): every parameter
        that names it as its listing, for the profile the command names.
        """
        show(self.modem, listed(command.name), profileId(command))

    def settings(self) -> Dict[str, Any]:
        """
        The settings C{AT&W} saves beside the parameters.
        """
        return {}

    def factorySettings(self) -> Dict[str, Any]:
        """
        The settings C{AT&F} restores.
        """
        return {}

    def applySettings(self, settings: Dict[str, Any]) -> None:
        """
        Take saved settings; anything malformed is left as it was.
        """

    def lineOpened(self) -> None:
        """
        The serial line is open (at start-up, or again after a loss).
        """

    def ipStarting(self) -> None:
        """
        An IP service is starting (a session, a transfer, a mail, a ping).
        """

    def bareETX(self) -> None:
        """
        A bare ETX in command mode while this service runs.
        """

    def cancel(self, why: str) -> None:
        """
        Give up what this service is opening (the host's ETX, a time-out).
        """

    def shutdown(self) -> None:
        """
        Stop whatever runs, at once (service stop, serial line lost).
        """

    def close(self) -> None:
        """
        The bridge stops for good.
        """


#: The registered services, in registration order.
SERVICES: List[Type[Service]] = []

#: Every command a registered service runs: name to (service, spec).
COMMANDS: Dict[str, CommandSpec] = {}
OWNERS: Dict[str, Type[Service]] = {}

#: Every registered parameter, by name.
PARAMETERS: Dict[str, Parameter] = {}


def register(service: Type[Service]) -> Type[Service]:
    """
    Make the modem know C{service}'s commands and parameters.

    @raise ValueError: if a name is already taken.
    """
    taken = [n for n in service.commands if n in COMMANDS or n in PARAMETERS]
    taken += [p.name for p in service.parameters if p.name in COMMANDS or p.name in PARAMETERS]
    if taken or service in SERVICES:
        raise ValueError("already registered: %s" % (", ".join(taken) or service.name,))
    SERVICES.append(service)
    for name, spec in service.commands.items():
        COMMANDS[name] = spec
        OWNERS[name] = service
    for parameter in service.parameters:
        PARAMETERS[parameter.name] = replace(parameter, service=service.name)
    return service


def unregister(service: Type[Service]) -> None:
    """
    Forget C{service} (tests that register a service of their own).
    """
    SERVICES.remove(service)
    for name in service.commands:
        del COMMANDS[name], OWNERS[name]
    for parameter in service.parameters:
        del PARAMETERS[parameter.name]


def listed(listing: str) -> List[str]:
    """
    The parameters the listing command C{listing} (C{#VTCP}) shows, in
    registration order.
    """
    return [name for name, p in PARAMETERS.items() if p.listing == listing]


# The built-in services register themselves.
import tcpbridge.services  # noqa: E402,F401  (registers the built-in services)
