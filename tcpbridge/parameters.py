"""
The AT# parameters: how a service declares one (its default, how a host's
value is checked, how it reads back, what C{AT#X=?} shows), and the set,
read and test forms every parameter shares in both dialects.

A service module lists its parameters next to its code; the registry
(L{tcpbridge.registry}) gathers them, and L{tcpbridge.profile} stores their
values per bridge.
"""

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Union

from tcpbridge.atcommands import ACTION, READ, SET, TEST, Command, isNumber
from tcpbridge.results import BAD_VALUE, BUSY, NOT_ALLOWED, SYNTAX_ERROR, ATError

if TYPE_CHECKING:
    from tcpbridge.modem import Modem

Value = Union[int, str]

#: Profile ids; the plain form of a command addresses the first.
PROFILE_IDS = (1, 2)

_HOSTNAME = re.compile(r"^(?=.{1,120}$)[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?$")


class BadValue(ValueError):
    """
    A value the parameter does not accept (CME error 34882).
    """


def isDottedQuad(text: str) -> bool:
    """
    Whether C{text} is an IPv4 address in dotted-decimal notation.
    """
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def server(text: str) -> str:
    """
    Check an IPv4 address or a host name.
    """
    if isDottedQuad(text) or _HOSTNAME.match(text):
        return text
    raise BadValue("not an IPv4 address or a host name: %r" % (text,))


def text(limit: int, quotes: bool = False) -> Callable[[str], str]:
    """
    A checker of printable strings of up to C{limit} characters.
    """

    def parse(text: str) -> str:
        if len(text) > limit or any(ord(c) < 32 or (c == '"' and not quotes) for c in text):
            raise BadValue("not a string of up to %d printable characters" % (limit,))
        return text

    return parse


def ipv4(text: str) -> str:
    """
    Check an IPv4 address in dotted-decimal notation.
    """
    if not isDottedQuad(text):
        raise BadValue("not an IPv4 address: %r" % (text,))
    return text


def integer(low: int, high: int, step: int = 1) -> Callable[[str], int]:
    """
    A checker of whole numbers from C{low} to C{high}, multiples of
    C{step}.
    """

    def parse(text: str) -> int:
        if not isNumber(text):
            raise BadValue("not a number: %r" % (text,))
        value = int(text)
        if not low <= value <= high or value % step:
            allowed = "%d to %d" % (low, high)
            if step > 1:
                allowed += ", a multiple of %d" % (step,)
            raise BadValue("out of range: %d (allowed: %s)" % (value, allowed))
        return value

    return parse


@dataclass(frozen=True)
class Parameter:
    """
    One AT# parameter: C{AT#NAME=value}, C{AT#NAME?}, C{AT#NAME=?}.
    """

    name: str
    default: Value
    parse: Callable[[str], Value]
    allowed: str
    quoted: bool = False
    #: A value per profile id (and the profile id in the universal-ip
    #: forms), or one value shared by both.
    profiled: bool = True
    #: The command that lists this parameter's group (C{#VTCP}), if any;
    #: C{AT#VALL} lists every parameter.
    listing: Optional[str] = None
    #: The service that owns it (set when the service is registered):
    #: while that service runs, its active profile's value cannot change.
    service: str = ""

    @property
    def secret(self) -> bool:
        """
        Whether the value is a password (the C{#...PW} parameters), which
        the log does not show.
        """
        return self.name.endswith("PW")

    def format(self, value: Value) -> str:
        """
        The value as the host reads it back (strings in quotes).
        """
        return '"%s"' % (value,) if self.quoted else str(value)


def profileId(command: Command, text: Optional[str] = None) -> int:
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


def show(modem: "Modem", names: Iterable[str], pid: int) -> None:
    """
    Send one C{#NAME: value} line per parameter (C{AT#VTCP}, C{AT#VALL}).
    """
    for line in modem.profile.lines(names, pid):
        modem.info(line)


def _universal(modem: "Modem", parameter: Parameter) -> bool:
    return modem.config.dialect == "universal-ip" and parameter.profiled


def _read(modem: "Modem", parameter: Parameter, pid: int) -> None:
    value = parameter.format(modem.profile.get(parameter.name, pid))
    if _universal(modem, parameter):
        modem.info("%s: %d,%s" % (parameter.name, pid, value))
    else:
        modem.info("%s: %s" % (parameter.name, value))


def runParameter(modem: "Modem", parameter: Parameter, command: Command) -> None:
    """
    Run C{AT#NAME=?}, C{AT#NAME?} or C{AT#NAME=...} in the bridge's
    dialect; a change is saved at once.
    """
    name = parameter.name
    universal = _universal(modem, parameter)
    if command.kind == TEST:
        modem.info("%s: %s%s" % (name, "(1-2)," if universal else "", parameter.allowed))
        return
    if command.kind == READ:
        for pid in PROFILE_IDS if universal else PROFILE_IDS[:1]:
            _read(modem, parameter, pid)
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
        pid = profileId(command, args[0])
        value = args[1]
    elif len(args) == 1 and universal:
        _read(modem, parameter, profileId(command, args[0]))
        return
    elif len(args) == 1:
        value = args[0]
    else:
        raise ATError(SYNTAX_ERROR)
    if modem.runs(parameter.service) and pid == modem.activeProfile:
        raise ATError(BUSY)
    try:
        modem.profile.set(name, value, pid)
    except BadValue:
        raise ATError(BAD_VALUE)
    modem.log.info(
        "{bridge}: {parameter} of profile {profile} set to {value}",
        bridge=modem.name,
        parameter=name,
        profile=pid,
        value="(hidden)" if parameter.secret else value,
    )
    if not modem.profile.persist():
        # In force for this run, as after a failed AT&W; the host is told.
        raise ATError(NOT_ALLOWED)
