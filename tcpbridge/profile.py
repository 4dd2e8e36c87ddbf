"""
The AT# IP-stack parameters (SPEC section 2.2): their validation, their
textual form, and the per-profile values a bridge holds.

One table, L{PARAMETERS}, says everything about a parameter: its name, its
power-on default, how a value given by the host is checked, how it reads
back, and what C{AT#X=?} shows.  Command parsing, help and listings all come
from it.
"""

import ipaddress
import re
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Mapping, Union

Value = Union[int, str]

BAD_VALUE = 34882

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


def _parseServer(text: str) -> str:
    if isDottedQuad(text) or _HOSTNAME.match(text):
        return text
    raise BadValue("not an IPv4 address or a host name: %r" % (text,))


def _integer(low: int, high: int, step: int = 1) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit():
            raise BadValue("not a number: %r" % (text,))
        value = int(text)
        if not low <= value <= high or value % step:
            raise BadValue("out of range: %d" % (value,))
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
    tcp: bool = True

    def format(self, value: Value) -> str:
        """
        The value as the host reads it back (strings in quotes).
        """
        return '"%s"' % (value,) if self.quoted else str(value)


PARAMETERS: Mapping[str, Parameter] = {
    p.name: p
    for p in [
        Parameter(
            "TCPSERV",
            "255.255.255.255",
            _parseServer,
            '"<IPv4 address or host name, up to 120 characters>"',
            quoted=True,
        ),
        Parameter("TCPPORT", 0, _integer(0, 65535), "(0-65535)"),
        Parameter("DLEMODE", 1, _integer(0, 1), "(0-1)"),
        Parameter("TCPTXDELAY", 100, _integer(0, 32760, 20), "(0-32760, multiple of 20)"),
        Parameter("OUTPORT", 0, _integer(0, 65535), "(0-65535)"),
    ]
}


class Profile:
    """
    The parameter values of one bridge, for each profile id.
    """

    def __init__(self, defaults: Mapping[str, Value] = {}) -> None:
        self.defaults: Dict[str, Value] = {
            name: defaults.get(name.lower(), p.default) for name, p in PARAMETERS.items()
        }
        self.values: Dict[int, Dict[str, Value]] = {}
        self.reset()

    def reset(self) -> None:
        """
        Return every profile to the power-on values.
        """
        self.values = {pid: dict(self.defaults) for pid in PROFILE_IDS}

    def get(self, name: str, pid: int = 1) -> Value:
        """
        The value of parameter C{name} in profile C{pid}.
        """
        return self.values[pid][name]

    def set(self, name: str, text: str, pid: int = 1) -> Value:
        """
        Check C{text} against parameter C{name} and store it in C{pid}.

        @raise BadValue: if the parameter does not accept it.
        """
        value = PARAMETERS[name].parse(text)
        self.values[pid][name] = value
        return value

    def lines(self, names: Iterable[str], pid: int = 1) -> Iterable[str]:
        """
        C{#NAME: value} lines, as C{AT#VTCP} and C{AT#VALL} show them.
        """
        for name in names:
            yield "#%s: %s" % (name, PARAMETERS[name].format(self.values[pid][name]))
