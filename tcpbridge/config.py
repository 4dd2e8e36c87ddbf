"""
Reading the C{.ini} file into typed, validated settings.

Every problem is reported as one L{ConfigError} naming the file, the
section, the key and what is wrong, so that twistd can stop with one clear
line instead of a traceback.
"""

import configparser
import ipaddress
import os
import stat
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

from tcpbridge.parameters import BadValue, Value
from tcpbridge.registry import PARAMETERS
from tcpbridge.services.gsm import digits, operatorName
from tcpbridge.smssink import checkSink

#: Which parameters the C{.ini} file can give power-on values (key: name).
CONFIGURABLE = {name[1:].lower(): name for name in PARAMETERS if name.startswith("#")}

SECTION_PREFIX = "bridge:"

#: The section of the process's own settings (see L{tcpbridge.serviceconfig}).
SERVICE_SECTION = "service"

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class ConfigError(Exception):
    """
    The configuration cannot be used; the message says where and why.
    """


@dataclass
class BridgeConfig:
    """
    The settings of one bridge.  Every field but C{name} and C{device} has
    the default that README.rst's configuration table shows.
    """

    name: str = "test"
    device: str = ""
    baudrate: int = 115200
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    flowcontrol: str = "none"
    interface: str = "0.0.0.0"
    allow: Optional[Sequence[Network]] = None
    profile: Optional[str] = None
    dialect: str = "w302"
    link: str = "auto"
    connect_timeout: float = 30.0
    line_limit: int = 1024
    identity: str = "tcpbridge Wavecom-compatible TCP bridge"
    manufacturer: str = "WAVECOM MODEM"
    model: str = "MULTIBAND  900E  1800"
    revision: str = "tcpbridge"
    serial_number: str = "000000000000000"
    csq: str = "20,0"
    registration: int = 1
    cpin: str = "READY"
    trace: Optional[str] = None
    idle_timeout: Optional[float] = None
    tls: bool = False
    tls_cert: Optional[str] = None
    tls_key: Optional[str] = None
    tls_ca: Optional[str] = None
    # Operating many bridges (keepalive, modem lines, line ends).
    keepalive: Optional[int] = None
    line_end: str = "cr"
    dtr_input: str = "none"
    dcd_output: str = "none"
    # mail (SMTP, POP3)
    smtp_tls: str = "auto"
    pop3_tls: str = "auto"
    # GSM: what identifies the SIM and its network (AT+CNUM, AT+CIMI,
    # AT+CCID, AT+COPS).
    own_number: str = ""
    imsi: str = "001010000000000"
    iccid: str = "8900101000000000000"
    operator: str = "tcpbridge"
    # SMS: where the messages go (a mailto: sink sends through the mail
    # service's SMTP parameters).
    sms: str = "log"
    # The FTP service (AT#FTPGET, AT#FTPPUT).
    ftp_timeout: float = 180.0
    # The UDP service.
    udp_payload: int = 1460
    udp_buffer: int = 65536
    parameters: Dict[str, Value] = field(default_factory=dict)


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError("not a whole number: %r" % (text,))
        if not low <= value <= high:
            raise ValueError("out of range: %d (allowed: %d to %d)" % (value, low, high))
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError("%r is not one of %s" % (text, ", ".join(choices)))
        return text.lower()

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number of seconds: %r" % (text,))
    if not 0 < value <= 86400:
        raise ValueError("out of range: %s (allowed: more than 0, up to 86400 seconds)" % (text,))
    return value


def _stopbits(text: str) -> float:
    if text not in ("1", "1.5", "2"):
        raise ValueError("%r is not 1, 1.5 or 2" % (text,))
    return float(text) if text == "1.5" else int(text)


def _address(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("not an IP address: %r" % (text,))
    return text


def _networks(text: str) -> List[Network]:
    if not text.strip():
        raise ValueError("empty: leave the key out to allow every address")
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError("not a network (CIDR): %r" % (item,))
    return networks


def _device(text: str) -> str:
    from tcpbridge.lock import DeviceUnusable, describeKind
    from tcpbridge.serial import PTY_PREFIX, checkPtyPath

    if not text or text == PTY_PREFIX:
        raise ValueError("empty device")
    if text.startswith(PTY_PREFIX):
        try:
            checkPtyPath(text[len(PTY_PREFIX) :], busy=False)
        except DeviceUnusable as e:
            raise ValueError(str(e))
        return text
    try:
        mode = os.stat(text).st_mode
    except OSError:
        # Not there yet (a USB adapter plugged in later): tried at start.
        return text
    if not stat.S_ISCHR(mode):
        raise ValueError("%s is %s, not a serial device" % (text, describeKind(mode)))
    return text


def deviceIdentity(device: str) -> str:
    """
    What two bridges must not share: the path a C{pty:} link is made at,
    or the device node a path leads to.
    """
    from tcpbridge.serial import PTY_PREFIX

    if device.startswith(PTY_PREFIX):
        return PTY_PREFIX + os.path.abspath(device[len(PTY_PREFIX) :])
    return os.path.realpath(device)


def _boolean(text: str) -> bool:
    value = text.lower()
    if value in ("on", "yes", "true", "1"):
        return True
    if value in ("off", "no", "false", "0"):
        return False
    raise ValueError("%r is not on or off" % (text,))


def _inDirectory(text: str) -> str:
    """
    A file the service will write: its directory must exist, so that a
    mistake shows at start-up rather than at the first write.
    """
    directory = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(directory):
        raise ValueError("directory %s does not exist" % (directory,))
    if os.path.isdir(text):
        raise ValueError("%s is a directory, not a file" % (text,))
    return text


def _file(text: str) -> str:
    if not os.path.isfile(text):
        raise ValueError("no such file: %r" % (text,))
    return text


def _parity(text: str) -> str:
    return _choice("n", "e", "o", "m", "s")(text).upper()


#: Each key a bridge section may hold, and how its text becomes a value.
KEYS: Dict[str, Callable[[str], object]] = {
    "device": _device,
    "baudrate": _integer(50, 4000000),
    "bytesize": _integer(5, 8),
    "parity": _parity,
    "stopbits": _stopbits,
    "flowcontrol": _choice("none", "rtscts", "xonxoff"),
    "interface": _address,
    "allow": _networks,
    "profile": _inDirectory,
    "dialect": _choice("w302", "universal-ip"),
    "link": _choice("auto", "explicit"),
    "connect_timeout": _seconds,
    "line_limit": _integer(80, 65536),
    "identity": str,
    "manufacturer": str,
    "model": str,
    "revision": str,
    "serial_number": str,
    "csq": str,
    "registration": _integer(0, 5),
    "cpin": str,
    "trace": _inDirectory,
    "idle_timeout": _seconds,
    "tls": _boolean,
    "tls_cert": _file,
    "tls_key": _file,
    "tls_ca": _file,
    # Operating many bridges: keepalive, line ends, modem lines.
    "keepalive": _integer(1, 32767),
    "line_end": _choice("cr", "cr-or-lf"),
    "dtr_input": _choice("dsr", "dcd", "none"),
    "dcd_output": _choice("dtr", "rts", "none"),
    # mail (SMTP, POP3)
    "smtp_tls": _choice("auto", "required", "off"),
    "pop3_tls": _choice("auto", "required", "off"),
    # GSM: the SIM and its network.
    "own_number": digits(0, 20, plus=True),
    "imsi": digits(6, 15),
    "iccid": digits(18, 20),
    "operator": operatorName,
    # SMS: the sink.
    "sms": checkSink,
    # The FTP service (AT#FTPGET, AT#FTPPUT).
    "ftp_timeout": _seconds,
    # The UDP service: the largest datagram sent, and the bytes of
    # datagrams held while the host does not read.
    "udp_payload": _integer(1, 65507),
    "udp_buffer": _integer(1024, 16777216),
}


def _parameter(name: str) -> Callable[[str], Value]:
    def parse(text: str) -> Value:
        try:
            return PARAMETERS[name].parse(text.strip('"'))
        except BadValue as e:
            raise ValueError(str(e))

    return parse


for _key, _name in CONFIGURABLE.items():
    KEYS[_key] = _parameter(_name)


def _checkTLS(values: Dict[str, object], where: str) -> None:
    """
    Load the listening side's certificate, key and CA once, so that a bad
    file stops start-up rather than the first C{AT#LTCPSTART}.
    """
    from tcpbridge.tls import TLSError, loadAuthority, serverOptions

    cert = str(values["tls_cert"])
    try:
        serverOptions(cert, str(values.get("tls_key", cert)))
    except TLSError as e:
        raise ConfigError("%s tls_cert: %s" % (where, e))
    if "tls_ca" in values:
        try:
            loadAuthority(str(values["tls_ca"]))
        except TLSError as e:
            raise ConfigError("%s tls_ca: %s" % (where, e))


def _read(text: str, filename: str) -> configparser.ConfigParser:
    """
    Parse the C{.ini} syntax, turning configparser's errors into one line.
    """
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        parser.read_string(text, source=filename)
    except configparser.DuplicateSectionError as e:
        raise ConfigError("%s: [%s] appears twice: duplicate bridge name" % (filename, e.section))
    except configparser.DuplicateOptionError as e:
        raise ConfigError("%s: [%s] %s: key appears twice" % (filename, e.section, e.option))
    except configparser.MissingSectionHeaderError as e:
        raise ConfigError(
            "%s: line %d: %r is outside any section: start the file with [%sNAME] (or [DEFAULT])"
            % (filename, e.lineno, e.line.strip(), SECTION_PREFIX)
        )
    except configparser.ParsingError as e:
        lineno = e.errors[0][0]
        line = text.splitlines()[lineno - 1].strip()
        raise ConfigError(
            "%s: line %d: %r is not a 'key = value' line" % (filename, lineno, line)
        )
    except configparser.Error as e:
        raise ConfigError("%s: %s" % (filename, " ".join(str(e).split())))
    return parser


def _values(
    items: Dict[str, str], where: str
) -> "tuple[Dict[str, object], Dict[str, Value]]":
    """
    Check and convert the keys of one section.

    @return: the bridge's settings, and the power-on values of AT#
        parameters.
    """
    values: Dict[str, object] = {}
    parameters: Dict[str, Value] = {}
    for key, raw in items.items():
        parse = KEYS.get(key)
        if parse is None:
            raise ConfigError("%s %s: unknown key" % (where, key))
        try:
            value = parse(raw.strip())
        except ValueError as e:
            raise ConfigError("%s %s: %s" % (where, key, e))
        if key in CONFIGURABLE:
            parameters[key] = value  # type: ignore[assignment]
        else:
            values[key] = value
    return values, parameters


def parseConfig(text: str, filename: str = "<config>") -> List[BridgeConfig]:
    """
    Parse the text of a C{.ini} file into one L{BridgeConfig} per
    C{[bridge:NAME]} section.

    @raise ConfigError: naming file, section and key, for the first problem.
    """
    parser = _read(text, filename)
    # [DEFAULT] first, so that a mistake there is blamed on it, not on the
    # first bridge that inherits it.
    _values(dict(parser.defaults()), "%s: [%s]" % (filename, parser.default_section))
    bridges = []
    names: Dict[str, str] = {}
    devices: Dict[str, str] = {}
    for section in parser.sections():
        if section == SERVICE_SECTION:
            continue
        if not section.startswith(SECTION_PREFIX):
            raise ConfigError(
                "%s: [%s]: unknown section (bridges are [%sNAME])"
                % (filename, section, SECTION_PREFIX)
            )
        name = section[len(SECTION_PREFIX) :].strip()
        if not name:
            raise ConfigError("%s: [%s]: the bridge has no name" % (filename, section))
        if name in names:
            raise ConfigError(
                "%s: [%s]: duplicate bridge name (also [%s])" % (filename, section, names[name])
            )
        names[name] = section
        values, parameters = _values(dict(parser.items(section)), "%s: [%s]" % (filename, section))
        if "device" not in values:
            raise ConfigError("%s: [%s] device: missing (required)" % (filename, section))
        identity = deviceIdentity(str(values["device"]))
        if identity in devices:
            raise ConfigError(
                "%s: [%s] device: %s is already the device of [%s]: a line serves one bridge"
                % (filename, section, values["device"], devices[identity])
            )
        devices[identity] = section
        if "tls_key" in values and "tls_cert" not in values:
            raise ConfigError("%s: [%s] tls_cert: missing (tls_key needs it)" % (filename, section))
        if "tls_cert" in values:
            _checkTLS(values, "%s: [%s]" % (filename, section))
        if values.get("dcd_output") == "rts" and values.get("flowcontrol") == "rtscts":
            raise ConfigError(
                "%s: [%s] dcd_output: rts is the flow control's line (flowcontrol = rtscts)"
                % (filename, section)
            )
        bridges.append(BridgeConfig(name=name, parameters=parameters, **values))  # type: ignore[arg-type]
    if not bridges:
        raise ConfigError("%s: no [%sNAME] section: nothing to run" % (filename, SECTION_PREFIX))
    return bridges


def readConfig(path: str) -> List[BridgeConfig]:
    """
    Read and parse the C{.ini} file at C{path}.

    @raise ConfigError: if it cannot be read or is not valid.
    """
    return parseConfig(readText(path), path)


def readText(path: str) -> str:
    """
    The text of the C{.ini} file at C{path}.

    @raise ConfigError: if it cannot be read.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError("%s: cannot read: %s" % (path, e.strerror or e))
    except UnicodeDecodeError as e:
        raise ConfigError("%s: not UTF-8 text: %s" % (path, e))
    return text

