"""
The GSM and GPRS side of the modem: the status queries firmware checks
before it dials (C{+CSQ}, C{+CREG}, C{+CGREG}, C{+CPIN}), the network
state a modem reports unasked (registration, GPRS attach, C{+CFUN},
Wavecom's C{+WIND} indications), the state and addresses (C{#VSTATE},
C{#DISPLAYIP}), the emulated GPRS link (C{#CONNECTIONSTART},
C{#CONNECTIONSTOP}), and the parameters a GPRS init sequence sets.

The box's own network stands in for the GPRS link, so these parameters are
stored, shown and saved, but not used; the registration and attach states
are only what the host is told.
"""

import time
from typing import Callable, Optional, Tuple

from tcpbridge.atcommands import READ, SET, Command, number
from tcpbridge.parameters import Parameter, integer, ipv4, runParameter, text
from tcpbridge.registry import PARAMETERS, CommandSpec, Service
from tcpbridge.results import BAD_VALUE, FINAL, NOT_ALLOWED, SYNTAX_ERROR, ATError
from tcpbridge.services.standard import identity

#: The C{+WIND: n} indications a modem sends as it starts, in the order it
#: sends them, each with the C{AT+WIND} mask bit that enables it: the SIM
#: is inserted (bit 0), ready for the commands but phonebooks and SMS
#: (bit 2), the network is there for an emergency call (bit 6), ready for
#: every command (bit 3), SMS ready (bit 14).
START_INDICATIONS = ((0, "1"), (2, "3"), (6, "7"), (3, "4"), (14, "16"))


def _shared(
    name: str, default: object, parse: object, allowed: str, quoted: bool = False, listing: Optional[str] = None
) -> Parameter:
    return Parameter(name, default, parse, allowed, quoted=quoted, profiled=False, listing=listing)  # type: ignore[arg-type]


class GSM(Service):
    """
    A healthy modem, registered on its home network with a good signal.
    """

    name = "gsm"
    commands = {
        "+CSQ": CommandSpec("csq", "a", "+CSQ: (0-31,99),(0-7,99)"),
        "+CREG": CommandSpec("registration", "rs", "+CREG: (0-2)"),
        "+CGREG": CommandSpec("registration", "rs", "+CGREG: (0-2)"),
        "+CPIN": CommandSpec("cpin", "rs"),
        "+CCED": CommandSpec("accept", "ars"),
        "+CGATT": CommandSpec("attach", "rs", "+CGATT: (0-1)"),
        "+CFUN": CommandSpec("cfun", "rs", "+CFUN: (0-1)"),
        "+CPOF": CommandSpec("cpof", "a"),
        "+CNUM": CommandSpec("cnum", "a"),
        "+CIMI": CommandSpec("cimi", "a"),
        "+CCID": CommandSpec("ccid", "ar"),
        "+COPS": CommandSpec("cops", "rst"),
        "+CCLK": CommandSpec("cclk", "rs", '+CCLK: "yy/MM/dd,hh:mm:ss+zz"'),
        "#VSTATE": CommandSpec("vstate", "a"),
        "#DISPLAYIP": CommandSpec("displayip", "a"),
        "#CONNECTIONSTART": CommandSpec("connectionstart", "a"),
        "#CONNECTIONSTOP": CommandSpec("connectionstop", "a"),
        "#VDNS": CommandSpec("listing", "a"),
    }
    parameters = [
        _shared("#GPRSMODE", 1, integer(0, 1), "(0-1)"),
        _shared("#APNSERV", "", text(120), '"<access point name>"', quoted=True),
        _shared("#APNUN", "", text(64), '"<user name>"', quoted=True),
        _shared("#APNPW", "", text(64), '"<password>"', quoted=True),
        _shared("#DNSSERV1", "0.0.0.0", ipv4, '"<IPv4 address>"', quoted=True, listing="#VDNS"),
        _shared("#DNSSERV2", "0.0.0.0", ipv4, '"<IPv4 address>"', quoted=True, listing="#VDNS"),
        _shared("#DIALSELECT", 2, integer(0, 2), "(0-2)"),
        _shared("#DIALN1", "", text(32), '"<number>"', quoted=True),
        _shared("#DIALN2", "", text(32), '"<number>"', quoted=True),
        _shared("#ISPUN", "", text(64), '"<user name>"', quoted=True),
        _shared("#ISPPW", "", text(64), '"<password>"', quoted=True),
        _shared("#PPPMODE", 1, integer(0, 4), "(0-4)"),
        _shared("#PHYTIMEOUT", 15, integer(1, 120), "(1-120)"),
        _shared("#REDIALCOUNT", 5, integer(0, 14), "(0-14)"),
        _shared("#REDIALDELAY", 5, integer(5, 14), "(5-14)"),
        _shared("+WOPEN", 1, integer(0, 2), "(0-2)"),
        _shared("+CGCLASS", "B", text(2), '("A","B","CG","CC")', quoted=True),
        _shared("+CGDCONT", '1,"IP",""', text(200, quotes=True), '(1-4),("IP"),<apn>'),
        _shared("+CREG", 0, integer(0, 2), "(0-2)"),
        _shared("+CGREG", 0, integer(0, 2), "(0-2)"),
        _shared("+WIND", 0, integer(0, 65535), "(0-65535)"),
    ]

    #: Whether the radio is on (C{AT+CFUN=1}) and GPRS attached
    #: (C{AT+CGATT=1}); at power-on registered, and detached.
    functional = True
    attached = False

    # -- the network state, reported unasked ----------------------------------

    def lineOpened(self) -> None:
        """
        The modem starts (the serial line opens, or C{AT+CFUN=1}):
        registered and detached; the start-up indications the saved
        C{AT+WIND} mask enables, and C{+CREG} if the host asked for it.
        """
        self.functional, self.attached = True, False
        mask = self.modem.profile.get("+WIND")
        assert isinstance(mask, int)
        for bit, event in START_INDICATIONS:
            if mask & (1 << bit):
                self.modem.unsolicited("+WIND: %s" % (event,))
        self._change(before=(0, 0))

    def states(self) -> Tuple[int, int]:
        """
        The registration and GPRS registration states (0: not registered).
        """
        registered = self.modem.config.registration if self.functional else 0
        return registered, registered if self.attached else 0

    def _change(
        self,
        functional: Optional[bool] = None,
        attached: Optional[bool] = None,
        before: Optional[Tuple[int, int]] = None,
    ) -> None:
        """
        Change the state; report each registration state that changed with
        an unsolicited C{+CREG: n} or C{+CGREG: n} if its mode asks for it.
        """
        before = before or self.states()
        if functional is not None:
            self.functional = functional
        if attached is not None:
            self.attached = attached and self.functional
        for name, old, new in zip(("+CREG", "+CGREG"), before, self.states()):
            if old != new and self.modem.profile.get(name) in (1, 2):
                self.modem.unsolicited("%s: %d" % (name, new))

    def ipStarting(self) -> None:
        # An IP action attaches GPRS first, as on the modem.
        self._change(attached=True)

    def csq(self, command: Command) -> None:
        identity(self.modem, command, "+CSQ: %s" % (self.modem.config.csq,))

    def registration(self, command: Command) -> None:
        if command.kind == READ:
            mode = self.modem.profile.get(command.name)
            state = self.states()[command.name == "+CGREG"]
            self.modem.info("%s: %s,%d" % (command.name, mode, state))
        else:
            runParameter(self.modem, PARAMETERS[command.name], command)

    def attach(self, command: Command) -> None:
        """
        C{AT+CGATT=1} attaches (C{+CGREG: 1} follows the C{OK} when
        enabled), C{AT+CGATT=0} detaches; not while the radio is off.
        """
        if command.kind == READ:
            self.modem.info("+CGATT: %d" % (self.attached,))
            return
        value = number(command)
        if value not in (0, 1):
            raise ATError(BAD_VALUE)
        if value and not self.functional:
            raise ATError(NOT_ALLOWED)
        self._change(attached=bool(value))

    def cfun(self, command: Command) -> None:
        """
        C{AT+CFUN=0} turns the radio off (deregistered, detached);
        C{AT+CFUN=1} restarts the modem after its C{OK}: the settings saved
        with C{AT&W}, the start-up indications.
        """
        if command.kind == READ:
            self.modem.info("+CFUN: %d" % (self.functional,))
            return
        value = number(command)
        if value == 0:
            self._change(functional=False, attached=False)
        elif value == 1:
            self.restart()
        else:
            raise ATError(BAD_VALUE)

    def cpof(self, command: Command) -> None:
        """
        C{AT+CPOF}: the radio off, as C{AT+CFUN=0}.
        """
        self._change(functional=False, attached=False)

    def restart(self) -> None:
        """
        A soft reset: refused while a service runs; the parameters stay
        (they are saved as they change), the settings go back to those
        C{AT&W} saved, and every service starts again after the C{OK}.
        """
        m = self.modem
        m.idle()
        m.applySettings(m.settings(factory=True))
        m.applySettings(m.profile.settings)
        m.linkUp = m.config.link == "auto"

        def started() -> None:
            for service in m.services.values():
                service.lineOpened()

        m.afterResult(started)

    def cpin(self, command: Command) -> None:
        if command.kind == READ:
            self.modem.info("+CPIN: %s" % (self.modem.config.cpin,))
        elif command.kind != SET:
            raise ATError(SYNTAX_ERROR)

    def accept(self, command: Command) -> None:
        pass

    # -- the SIM and the network -----------------------------------------------

    def cnum(self, command: Command) -> None:
        """
        The SIM's own number, if the C{.ini} gives one (else C{OK} alone,
        as a SIM that does not hold it).
        """
        number = self.modem.config.own_number
        if number:
            kind = 145 if number.startswith("+") else 129
            self.modem.info('+CNUM: "","%s",%d' % (number, kind))

    def cimi(self, command: Command) -> None:
        self.modem.info(self.modem.config.imsi)

    def ccid(self, command: Command) -> None:
        self.modem.info('+CCID: "%s"' % (self.modem.config.iccid,))

    def cops(self, command: Command) -> None:
        """
        The operator the modem is registered with; a choice of operator is
        accepted and changes nothing.
        """
        c = self.modem.config
        if command.kind == READ:
            self.modem.info('+COPS: 0,0,"%s"' % (c.operator,) if self.states()[0] else "+COPS: 0")
        elif command.kind == SET:
            if not command.args or command.args[0] not in ("0", "1", "2", "3", "4"):
                raise ATError(BAD_VALUE)
        else:
            self.modem.info(
                '+COPS: (2,"%s","%s","%s"),,(0-4),(0-2)' % (c.operator, c.operator, c.imsi[:5])
            )

    def cclk(self, command: Command) -> None:
        """
        The box's own clock, in local time; setting it is accepted and
        changes nothing (the box's clock is the operator's).
        """
        if command.kind == READ:
            now = time.localtime(self.modem.reactor.seconds())  # type: ignore[attr-defined]
            quarters = now.tm_gmtoff // 900
            self.modem.info(
                '+CCLK: "%s%s%02d"'
                % (time.strftime("%y/%m/%d,%H:%M:%S", now), "-" if quarters < 0 else "+", abs(quarters))
            )

    def vstate(self, command: Command) -> None:
        connected = self.modem.session is not None
        self.modem.info('#STATE: "%s"' % ("CONNECTED" if connected else "IDLE",))

    def localAddress(self) -> str:
        """
        The bridge's own address, as the modem's IP address.
        """
        session = self.modem.session
        if session is not None:
            return str(getattr(session.peer.getHost(), "host", "0.0.0.0"))
        return self.modem.config.interface if self.modem.linkUp else "0.0.0.0"

    def displayip(self, command: Command) -> None:
        peer = "0.0.0.0"
        session = self.modem.session
        if session is not None:
            peer = str(getattr(session.peer.getPeer(), "host", peer))
        self.modem.info('#MY IP: "%s"' % (self.localAddress(),))
        self.modem.info('#PEER IP: "%s"' % (peer,))
        self.modem.info('#GATEWAY IP: "0.0.0.0"')

    def connectionstart(self, command: Command) -> str:
        """
        Bring the (emulated) GPRS link up: C{Ok_Info_GprsActivation}, then
        the local address, in place of C{OK}.
        """
        self.modem.linkUp = True
        self._change(attached=True)
        self.modem.result("Ok_Info_GprsActivation")
        self.modem.info(self.localAddress())
        return FINAL

    def connectionstop(self, command: Command) -> None:
        self.modem.idle()
        if self.modem.config.link == "explicit":
            self.modem.linkUp = False


def digits(low: int, high: int, plus: bool = False) -> Callable[[str], str]:
    """
    A checker of the C{.ini}'s numbers that identify the SIM: C{low} to
    C{high} digits (C{plus}: a C{+} may come first).
    """

    def parse(text: str) -> str:
        body = text[1:] if plus and text.startswith("+") else text
        if not (low <= len(body) <= high and all(c in "0123456789" for c in body)):
            first = " (+ first allowed)" if plus else ""
            raise ValueError("%r is not %d to %d digits%s" % (text, low, high, first))
        return text

    return parse


def operatorName(text: str) -> str:
    """
    Check the operator's name of the C{.ini}: up to 16 characters, no
    quote.
    """
    if len(text) > 16 or any(ord(c) < 32 or c == '"' for c in text):
        raise ValueError("%r is not up to 16 printable characters without quotes" % (text,))
    return text
