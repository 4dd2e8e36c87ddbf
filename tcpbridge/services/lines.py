"""
The modem's control lines on a real serial port: the host's DTR
(C{AT&D}) and the modem's DCD (C{AT&C}), saved with C{AT&W}.

The cable decides which wires these are on the bridge's port: the host's
DTR reaches the port's DSR or DCD input (C{dtr_input}), and the host's DCD
is driven by the port's DTR or RTS output (C{dcd_output}).  The input is
polled every L{POLL} seconds through pyserial (an ioctl that never
blocks), and the output set when it must change.  C{AT&D0} ignores DTR;
C{AT&D1} and C{AT&D2} end a session when DTR drops, as the host's closing
ETX does, and cancel a connection being opened.  C{AT&C0} keeps DCD on;
C{AT&C1} turns it on while a session is open.  A pty has no lines: the
values are remembered only.
"""

from typing import TYPE_CHECKING, Any, Dict, Optional

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from tcpbridge.atcommands import Command, number
from tcpbridge.registry import CONNECTING, DATA, CommandSpec, Service
from tcpbridge.results import BAD_VALUE, ATError

if TYPE_CHECKING:
    from tcpbridge.modem import Modem

#: Seconds between two looks at the lines.
POLL = 0.1

#: pyserial's name of each input and output wire.
INPUTS = {"dsr": "dsr", "dcd": "cd"}
OUTPUTS = {"dtr": "dtr", "rts": "rts"}


class Lines(Service):
    """
    C{AT&D} and C{AT&C}, and the wires they act on.

    @ivar dtrMode: the C{AT&D} value; C{dcdMode} the C{AT&C} value.
    """

    log = Logger()

    name = "lines"
    commands = {
        "&D": CommandSpec("setDTR", "a", "(0-2)"),
        "&C": CommandSpec("setDCD", "a", "(0-1)"),
    }

    #: Factory values: AT&D2, AT&C1.
    FACTORY = {"ampd": 2, "ampc": 1}

    def __init__(self, modem: "Modem") -> None:
        Service.__init__(self, modem)
        self.dtrMode = self.FACTORY["ampd"]
        self.dcdMode = self.FACTORY["ampc"]
        self._poll: Optional[LoopingCall] = None
        self._dtr: Optional[bool] = None
        self._dcd: Optional[bool] = None

    # -- settings ------------------------------------------------------------

    def factorySettings(self) -> Dict[str, Any]:
        return dict(self.FACTORY)

    def settings(self) -> Dict[str, Any]:
        return {"ampd": self.dtrMode, "ampc": self.dcdMode}

    def applySettings(self, settings: Dict[str, Any]) -> None:
        if settings.get("ampd") in (0, 1, 2):
            self.dtrMode = settings["ampd"]
        if settings.get("ampc") in (0, 1):
            self.dcdMode = settings["ampc"]

    # -- the commands ------------------------------------------------------------

    def setDTR(self, command: Command) -> None:
        value = number(command, default=0)
        if value not in (0, 1, 2):
            raise ATError(BAD_VALUE)
        self.dtrMode = value

    def setDCD(self, command: Command) -> None:
        value = number(command, default=0)
        if value not in (0, 1):
            raise ATError(BAD_VALUE)
        self.dcdMode = value
        self.modem.afterResult(self.look)

    # -- the wires -----------------------------------------------------------------

    def _port(self) -> Any:
        """
        pyserial's port under the serial transport (none on a pty).
        """
        return getattr(self.modem.transport, "_serial", None)

    def lineOpened(self) -> None:
        c = self.modem.config
        self._stop()
        self._dtr = self._dcd = None
        if self._port() is None or (c.dtr_input == "none" and c.dcd_output == "none"):
            return
        self._poll = LoopingCall(self.look)
        self._poll.clock = self.modem.reactor
        self._poll.start(POLL, now=True)

    def look(self) -> None:
        """
        Read the host's DTR, and set its DCD.
        """
        port = self._port()
        if port is None:
            return
        c = self.modem.config
        try:
            if c.dtr_input != "none":
                dtr = bool(getattr(port, INPUTS[c.dtr_input]))
                if self._dtr and not dtr:
                    self.dtrDropped()
                self._dtr = dtr
            if c.dcd_output != "none":
                dcd = self.dcdMode == 0 or self.modem.session is not None
                if dcd != self._dcd:
                    setattr(port, OUTPUTS[c.dcd_output], dcd)
                    self._dcd = dcd
        except Exception as e:
            # The port is going (a USB adapter pulled out): its loss is
            # reported by the transport.
            self.log.debug("{bridge}: modem lines: {error}", bridge=self.modem.name, error=e)

    def dtrDropped(self) -> None:
        """
        The host dropped DTR: after C{AT&D1} or C{AT&D2}, end the session
        as its closing ETX would, or give up the connection being opened.
        """
        m = self.modem
        if self.dtrMode == 0:
            return
        if m.state == DATA and m.session is not None:
            self.log.info("{bridge}: the host dropped DTR: closing the session", bridge=m.name)
            m.session.hostClose()
        elif m.state == CONNECTING and m.running is not None:
            m.running.cancel("cancelled by the host")

    def _stop(self) -> None:
        if self._poll is not None and self._poll.running:
            self._poll.stop()
        self._poll = None

    def shutdown(self) -> None:
        self._stop()

    def close(self) -> None:
        self._stop()
