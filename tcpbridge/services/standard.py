"""
The standard V.250 commands: echo and result codes (C{ATE}, C{ATV},
C{ATQ}, C{+CMEE}, C{S3}, C{S5}), the profile (C{ATZ}, C{AT&F}, C{AT&W},
C{AT#VALL}), the modem's identity (C{ATI}, C{+CGMI}, ...), and the serial
port's line (C{+IPR}, C{+IFC}, C{+ICF}), applied to the live port once the
final result has gone out at the old setting.
"""

from typing import TYPE_CHECKING, Any, Callable, Dict, Tuple

from tcpbridge import __version__
from tcpbridge.atcommands import ACTION, READ, SET, Command, number, numbers
from tcpbridge.parameters import profileId, show
from tcpbridge.registry import PARAMETERS, CommandSpec, Service
from tcpbridge.results import BAD_VALUE, NOT_ALLOWED, SYNTAX_ERROR, ATError
from tcpbridge.serial import applyLineSettings

if TYPE_CHECKING:
    from tcpbridge.modem import Modem

#: Line speeds C{AT+IPR} accepts.
BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

#: C{AT+ICF} formats: data bits, parity (N or given by the second
#: argument), stop bits.
ICF_FORMATS = {1: (8, "N", 2), 2: (8, "P", 1), 3: (8, "N", 1), 4: (7, "N", 2), 5: (7, "P", 1), 6: (7, "N", 1)}


class Standard(Service):
    """
    The V.250 and identity commands, and the port's line settings.
    """

    name = "standard"
    commands = {
        "E": CommandSpec("echo", "a", "(0-1)"),
        "V": CommandSpec("verbose", "a", "(0-1)"),
        "Q": CommandSpec("quiet", "a", "(0-1)"),
        "Z": CommandSpec("restore", "a"),
        "&F": CommandSpec("factory", "a"),
        "&W": CommandSpec("save", "a"),
        "I": CommandSpec("identify", "a"),
        "S3": CommandSpec("s3", "rs", "(0-127)"),
        "S5": CommandSpec("s5", "rs", "(0-127)"),
        "+CMEE": CommandSpec("cmee", "ars", "+CMEE: (0-1)"),
        "+CGMI": CommandSpec("manufacturer", "a"),
        "+CGMM": CommandSpec("model", "a"),
        "+GMM": CommandSpec("model", "a"),
        "+CGMR": CommandSpec("revision", "a"),
        "+CGSN": CommandSpec("serialNumber", "a"),
        "+IPR": CommandSpec("speed", "rs", "+IPR: (0,%s)" % (",".join(str(b) for b in BAUDRATES),)),
        "+IFC": CommandSpec("flow", "rs", "+IFC: (0-2),(0-2)"),
        "+ICF": CommandSpec("format", "rs", "+ICF: (1-6),(0-3)"),
        "#VVERSION": CommandSpec("version", "a"),
        "#VALL": CommandSpec("vall", "as", "#VALL: (1-2)"),
    }

    ipr = 115200
    ifc: Tuple[int, ...] = (0, 0)
    icf: Tuple[int, ...] = (3, 4)

    # -- settings ------------------------------------------------------------

    def factorySettings(self) -> Dict[str, Any]:
        c = self.modem.config
        flow = {"none": 0, "xonxoff": 1, "rtscts": 2}[c.flowcontrol]
        return {
            "echo": 1,
            "verbose": 1,
            "quiet": 0,
            "cmee": 0,
            "s3": 13,
            "s5": 8,
            "ipr": c.baudrate,
            "ifc": [flow, flow],
            "icf": list(_icf(c.bytesize, c.parity, c.stopbits)),
        }

    def settings(self) -> Dict[str, Any]:
        m = self.modem
        return {
            "echo": int(m.echo),
            "verbose": int(m.verbose),
            "quiet": int(m.quiet),
            "cmee": m.cmee,
            "s3": m.s3,
            "s5": m.s5,
            "ipr": self.ipr,
            "ifc": list(self.ifc),
            "icf": list(self.icf),
        }

    def applySettings(self, settings: Dict[str, Any]) -> None:
        def pick(key: str, check: Callable[[Any], bool], default: Any) -> Any:
            value = settings.get(key, default)
            try:
                return value if check(value) else default
            except (TypeError, ValueError):
                return default

        m = self.modem
        flag = lambda v: v in (0, 1)  # noqa: E731
        register = lambda v: isinstance(v, int) and 0 <= v <= 127  # noqa: E731
        m.echo = bool(pick("echo", flag, m.echo))
        m.verbose = bool(pick("verbose", flag, m.verbose))
        m.quiet = bool(pick("quiet", flag, m.quiet))
        m.cmee = pick("cmee", flag, m.cmee)
        m.s3 = pick("s3", register, m.s3)
        m.s5 = pick("s5", register, m.s5)
        self.ipr = pick("ipr", lambda v: isinstance(v, int) and 50 <= v <= 4000000, self.ipr)
        self.ifc = tuple(
            pick("ifc", lambda v: len(v) == 2 and all(x in (0, 1, 2) for x in v), self.ifc)
        )
        self.icf = tuple(
            pick("icf", lambda v: len(v) == 2 and 1 <= v[0] <= 6 and 0 <= v[1] <= 3, self.icf)
        )

    def lineOpened(self) -> None:
        # Saved line settings (AT&W after AT+IPR) apply from the start.
        self.applyLine()

    def applyLine(self) -> None:
        """
        Put the live port's line settings in step with C{+IPR}, C{+ICF}
        and C{+IFC}.
        """
        c = self.modem.config
        if self.icf == _icf(c.bytesize, c.parity, c.stopbits):
            # The configured line, exactly, even where +ICF cannot say it.
            bytesize, parity, stopbits = c.bytesize, c.parity, c.stopbits
        else:
            bytesize, parity, stopbits = ICF_FORMATS[self.icf[0]]
            if parity != "N":
                parity = "OEMS"[self.icf[1]]
        applyLineSettings(
            self.modem.transport,
            baudrate=self.ipr,
            bytesize=bytesize,
            parity=parity,
            stopbits=stopbits,
            rtscts=2 in self.ifc,
            xonxoff=1 in self.ifc,
        )

    # -- echo and result codes -----------------------------------------------

    def _flag(self, attribute: str, command: Command) -> None:
        if command.kind == READ:
            raise ATError(SYNTAX_ERROR)
        value = number(command, default=0)
        if value not in (0, 1):
            raise ATError(BAD_VALUE)
        setattr(self.modem, attribute, bool(value))

    def echo(self, command: Command) -> None:
        self._flag("echo", command)

    def verbose(self, command: Command) -> None:
        self._flag("verbose", command)

    def quiet(self, command: Command) -> None:
        self._flag("quiet", command)

    def _register(self, attribute: str, command: Command) -> None:
        if command.kind == READ:
            self.modem.info("%03d" % (getattr(self.modem, attribute),))
        elif command.kind == SET:
            value = number(command)
            if not 0 <= value <= 127:
                raise ATError(BAD_VALUE)
            setattr(self.modem, attribute, value)
        else:
            raise ATError(SYNTAX_ERROR)

    def s3(self, command: Command) -> None:
        self._register("s3", command)

    def s5(self, command: Command) -> None:
        self._register("s5", command)

    def cmee(self, command: Command) -> None:
        if command.kind == READ:
            self.modem.info("+CMEE: %d" % (self.modem.cmee,))
        else:
            value = number(command, default=0)
            if value not in (0, 1):
                raise ATError(BAD_VALUE)
            self.modem.cmee = value

    # -- the profile ----------------------------------------------------------

    def restore(self, command: Command) -> None:
        """
        C{ATZ}: back to the saved profile (or the factory one if none).
        """
        m = self.modem
        m.idle()
        m.profile.reset()
        m.applySettings(m.settings(factory=True))
        m.loadProfile()
        m.afterResult(self.applyLine)

    def factory(self, command: Command) -> None:
        """
        C{AT&F}: the factory values (those of the C{.ini} file).
        """
        m = self.modem
        m.idle()
        m.profile.reset()
        m.applySettings(m.settings(factory=True))
        m.afterResult(self.applyLine)
        if not m.profile.persist():
            raise ATError(NOT_ALLOWED)

    def save(self, command: Command) -> None:
        """
        C{AT&W}: save the current settings and parameters.
        """
        m = self.modem
        m.profile.settings = m.settings()
        if m.profile.path is not None and not m.profile.persist():
            raise ATError(NOT_ALLOWED)

    def vall(self, command: Command) -> None:
        show(self.modem, list(PARAMETERS), profileId(command))

    # -- identity ---------------------------------------------------------------

    def identify(self, command: Command) -> None:
        self.modem.info(self.modem.config.identity)

    def manufacturer(self, command: Command) -> None:
        identity(self.modem, command, self.modem.config.manufacturer)

    def model(self, command: Command) -> None:
        identity(self.modem, command, self.modem.config.model)

    def revision(self, command: Command) -> None:
        identity(self.modem, command, self.modem.config.revision)

    def serialNumber(self, command: Command) -> None:
        identity(self.modem, command, self.modem.config.serial_number)

    def version(self, command: Command) -> None:
        self.modem.info('#VERSION: "tcpbridge %s"' % (__version__,))

    # -- the port's line ---------------------------------------------------------

    def speed(self, command: Command) -> None:
        if command.kind == READ:
            self.modem.info("+IPR: %d" % (self.ipr,))
            return
        value = number(command)
        if value == 0:
            return
        if value not in BAUDRATES:
            raise ATError(BAD_VALUE)
        self.ipr = value
        # The OK goes out at the old speed, then the port changes.
        self.modem.afterResult(self.applyLine)

    def flow(self, command: Command) -> None:
        if command.kind == READ:
            self.modem.info("+IFC: %d,%d" % self.ifc)
            return
        values = numbers(command, 1, 2)
        if any(v not in (0, 1, 2) for v in values):
            raise ATError(BAD_VALUE)
        self.ifc = (values[0], values[-1] if len(values) == 2 else self.ifc[1])
        self.modem.afterResult(self.applyLine)

    def format(self, command: Command) -> None:
        if command.kind == READ:
            self.modem.info("+ICF: %d,%d" % self.icf)
            return
        values = numbers(command, 1, 2)
        if not 1 <= values[0] <= 6 or (len(values) == 2 and not 0 <= values[1] <= 3):
            raise ATError(BAD_VALUE)
        self.icf = (values[0], values[1] if len(values) == 2 else self.icf[1])
        self.modem.afterResult(self.applyLine)


def identity(modem: "Modem", command: Command, text: str) -> None:
    """
    Answer an action-only command with one line of text.
    """
    if command.kind != ACTION:
        raise ATError(SYNTAX_ERROR)
    modem.info(text)


def _icf(bytesize: int, parity: str, stopbits: float) -> Tuple[int, int]:
    """
    The C{AT+ICF} format and parity for a line setting.
    """
    for code, (bits, par, stop) in ICF_FORMATS.items():
        if bits == bytesize and (par == "N") == (parity == "N") and stop == stopbits:
            return code, "OEMS".index(parity) if parity != "N" else 0
    return 3, 0
