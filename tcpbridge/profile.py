"""
The AT# IP-stack parameters: their validation, their
textual form, and the per-profile values a bridge holds.

One table, L{PARAMETERS}, says everything about a parameter: its name, its
power-on default, how a value given by the host is checked, how it reads
back, and what C{AT#X=?} shows.  Command parsing, help and listings all come
from it.
"""

import errno
import ipaddress
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Union

from tcpbridge.atcommands import isNumber

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


def _parseServer(text: str) -> str:
    if isDottedQuad(text) or _HOSTNAME.match(text):
        return text
    raise BadValue("not an IPv4 address or a host name: %r" % (text,))


def _text(limit: int, quotes: bool = False) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > limit or any(ord(c) < 32 or (c == '"' and not quotes) for c in text):
            raise BadValue("not a string of up to %d printable characters" % (limit,))
        return text

    return parse


def _ipv4(text: str) -> str:
    if not isDottedQuad(text):
        raise BadValue("not an IPv4 address: %r" % (text,))
    return text


def _integer(low: int, high: int, step: int = 1) -> Callable[[str], int]:
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
    #: Listed by C{AT#VTCP} (and set per profile), or only by C{AT#VALL}.
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
            "#TCPSERV",
            "255.255.255.255",
            _parseServer,
            '"<IPv4 address or host name, up to 120 characters>"',
            quoted=True,
        ),
        Parameter("#TCPPORT", 0, _integer(0, 65535), "(0-65535)"),
        Parameter("#DLEMODE", 1, _integer(0, 1), "(0-1)"),
        Parameter("#TCPTXDELAY", 100, _integer(0, 32760, 20), "(0-32760, multiple of 20)"),
        Parameter("#OUTPORT", 0, _integer(0, 65535), "(0-65535)"),
        # What a GPRS init sequence sets: stored, shown and saved, but not
        # used, since the machine's own network stands in for the GPRS link.
        Parameter("#GPRSMODE", 1, _integer(0, 1), "(0-1)", tcp=False),
        Parameter("#APNSERV", "", _text(120), '"<access point name>"', quoted=True, tcp=False),
        Parameter("#APNUN", "", _text(64), '"<user name>"', quoted=True, tcp=False),
        Parameter("#APNPW", "", _text(64), '"<password>"', quoted=True, tcp=False),
        Parameter("#DNSSERV1", "0.0.0.0", _ipv4, '"<IPv4 address>"', quoted=True, tcp=False),
        Parameter("#DNSSERV2", "0.0.0.0", _ipv4, '"<IPv4 address>"', quoted=True, tcp=False),
        Parameter("#DIALSELECT", 2, _integer(0, 2), "(0-2)", tcp=False),
        Parameter("#DIALN1", "", _text(32), '"<number>"', quoted=True, tcp=False),
        Parameter("#DIALN2", "", _text(32), '"<number>"', quoted=True, tcp=False),
        Parameter("#ISPUN", "", _text(64), '"<user name>"', quoted=True, tcp=False),
        Parameter("#ISPPW", "", _text(64), '"<password>"', quoted=True, tcp=False),
        Parameter("#PPPMODE", 1, _integer(0, 4), "(0-4)", tcp=False),
        Parameter("#PHYTIMEOUT", 15, _integer(1, 120), "(1-120)", tcp=False),
        Parameter("#REDIALCOUNT", 5, _integer(0, 14), "(0-14)", tcp=False),
        Parameter("#REDIALDELAY", 5, _integer(5, 14), "(5-14)", tcp=False),
        Parameter("+WOPEN", 1, _integer(0, 2), "(0-2)", tcp=False),
        Parameter("+CGATT", 1, _integer(0, 1), "(0-1)", tcp=False),
        Parameter("+CGCLASS", "B", _text(2), '("A","B","CG","CC")', quoted=True, tcp=False),
        Parameter("+CGDCONT", '1,"IP",""', _text(200, quotes=True), '(1-4),("IP"),<apn>', tcp=False),
        Parameter("+CREG", 0, _integer(0, 2), "(0-2)", tcp=False),
        Parameter("+CGREG", 0, _integer(0, 2), "(0-2)", tcp=False),
    ]
}

#: Which parameters the C{.ini} file can give power-on values (key: name).
CONFIGURABLE = {name[1:].lower(): name for name in PARAMETERS if name.startswith("#")}


class ProfileError(Exception):
    """
    A saved profile file that cannot be used; the message says why.
    """


class Profile:
    """
    The parameter values of one bridge, for each profile id, and their
    persistence in a profile file.

    Parameters listed by C{AT#VTCP} have a value per profile id; the others
    (the GPRS settings) have one value, shared.  C{settings} holds the
    modem's own settings (echo, result codes, ...) as last saved by
    C{AT&W}.
    """

    def __init__(self, defaults: Mapping[str, Value] = {}, path: Optional[str] = None) -> None:
        self.path = path
        self.defaults: Dict[str, Value] = {
            name: defaults.get(name[1:].lower(), p.default) for name, p in PARAMETERS.items()
        }
        self.values: Dict[int, Dict[str, Value]] = {}
        self.settings: Dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        """
        Return every value to the power-on (factory) defaults.
        """
        shared = dict(self.defaults)
        self.values = {
            pid: {n: v for n, v in shared.items() if PARAMETERS[n].tcp} for pid in PROFILE_IDS
        }
        self.shared = {n: v for n, v in shared.items() if not PARAMETERS[n].tcp}

    def get(self, name: str, pid: int = 1) -> Value:
        """
        The value of parameter C{name} in profile C{pid}.
        """
        if PARAMETERS[name].tcp:
            return self.values[pid][name]
        return self.shared[name]

    def set(self, name: str, text: str, pid: int = 1) -> Value:
        """
        Check C{text} against parameter C{name} and store it in C{pid}.

        @raise BadValue: if the parameter does not accept it.
        """
        value = PARAMETERS[name].parse(text)
        if PARAMETERS[name].tcp:
            self.values[pid][name] = value
        else:
            self.shared[name] = value
        return value

    def lines(self, names: Iterable[str], pid: int = 1) -> Iterable[str]:
        """
        C{#NAME: value} lines, as C{AT#VTCP} and C{AT#VALL} show them.
        """
        for name in names:
            yield "%s: %s" % (name, PARAMETERS[name].format(self.get(name, pid)))

    # -- persistence ---------------------------------------------------------

    def dump(self) -> Dict[str, Any]:
        """
        Everything the profile file holds, as plain data.
        """
        return {
            "format": "tcpbridge-profile",
            "version": 1,
            "profiles": {str(pid): dict(values) for pid, values in self.values.items()},
            "shared": dict(self.shared),
            "settings": dict(self.settings),
        }

    def save(self) -> None:
        """
        Write the profile file atomically: a temporary file beside it,
        flushed to disk, then renamed over it, so that a crash or a power
        cut leaves the old file or the new one, never a mixture.
        """
        if self.path is None:
            return
        data = json.dumps(self.dump(), indent=1, sort_keys=True).encode("utf-8")
        directory = os.path.dirname(os.path.abspath(self.path))
        temporary = "%s.%d.tmp" % (self.path, os.getpid())
        # 0600: the file holds the APN and ISP passwords.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, "nothing written")
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        dirfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)

    def load(self) -> bool:
        """
        Read the values saved in the profile file, if there is one.

        @return: whether a file was read.
        @raise ProfileError: if the file exists but cannot be used; the
            values are then left as they were.
        """
        if self.path is None:
            return False
        try:
            with open(self.path, "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as e:
            raise ProfileError("%s: unreadable profile: %s" % (self.path, e))
        try:
            if data.get("format") != "tcpbridge-profile":
                raise ProfileError("not a tcpbridge profile")
            values = {pid: dict(self.values[pid]) for pid in PROFILE_IDS}
            shared = dict(self.shared)
            for pid in PROFILE_IDS:
                for name, value in data["profiles"][str(pid)].items():
                    if name in PARAMETERS and PARAMETERS[name].tcp:
                        values[pid][name] = PARAMETERS[name].parse(str(value))
            for name, value in data.get("shared", {}).items():
                if name in PARAMETERS and not PARAMETERS[name].tcp:
                    shared[name] = PARAMETERS[name].parse(str(value))
            settings = data.get("settings", {})
            if not isinstance(settings, dict):
                raise ProfileError("settings are not a table")
        except ProfileError as e:
            raise ProfileError("%s: %s" % (self.path, e))
        except (AttributeError, KeyError, TypeError, BadValue) as e:
            raise ProfileError("%s: broken profile: %s" % (self.path, e))
        self.values, self.shared, self.settings = values, shared, settings
        return True
