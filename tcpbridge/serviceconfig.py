"""
The C{[service]} section of the C{.ini} file: the settings of the process
rather than of a bridge (the metrics and status server).

C{[DEFAULT]} does not apply to it: its keys are the bridges'.
"""

import configparser
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from tcpbridge.config import (
    SERVICE_SECTION,
    BridgeConfig,
    ConfigError,
    _address,
    _integer,
    _read,
    parseConfig,
    readText,
)


@dataclass
class ServiceConfig:
    """
    The process's settings.

    @ivar metrics: the address and port the metrics and status server
        listens on, or L{None} (off, the default).
    """

    metrics: Optional[Tuple[str, int]] = None


def _listenAddress(text: str) -> Tuple[str, int]:
    address, colon, port = text.rpartition(":")
    if not colon:
        raise ValueError("not ADDRESS:PORT: %r" % (text,))
    return _address(address.strip("[]") or "127.0.0.1"), _integer(1, 65535)(port)


#: Each key of the [service] section, and how its text becomes a value.
SERVICE_KEYS: Dict[str, Callable[[str], object]] = {"metrics": _listenAddress}


def parseServiceConfig(text: str, filename: str = "<config>") -> ServiceConfig:
    """
    The C{[service]} section of a C{.ini} file's text.

    @raise ConfigError: naming file, section and key, for the first problem.
    """
    _read(text, filename)
    # A parser of its own, where [DEFAULT] is a section like any other, so
    # that the bridges' shared keys do not show up here.
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.read_string(text, source=filename)
    if not parser.has_section(SERVICE_SECTION):
        return ServiceConfig()
    values: Dict[str, object] = {}
    for key, raw in parser.items(SERVICE_SECTION):
        where = "%s: [%s] %s" % (filename, SERVICE_SECTION, key)
        parse = SERVICE_KEYS.get(key)
        if parse is None:
            raise ConfigError("%s: unknown key" % (where,))
        try:
            values[key] = parse(raw.strip())
        except ValueError as e:
            raise ConfigError("%s: %s" % (where, e))
    return ServiceConfig(**values)  # type: ignore[arg-type]


def readFile(path: str) -> Tuple[List[BridgeConfig], ServiceConfig]:
    """
    Read the C{.ini} file at C{path} once: its bridges and its C{[service]}
    section.

    @raise ConfigError: if it cannot be read, or anything in it is wrong.
    """
    text = readText(path)
    return parseConfig(text, path), parseServiceConfig(text, path)
