"""
The GSM and GPRS side of the modem: the status queries firmware checks
before it dials (C{+CSQ}, C{+CREG}, C{+CGREG}, C{+CPIN}), the state and
addresses (C{#VSTATE}, C{#DISPLAYIP}), the emulated GPRS link
(C{#CONNECTIONSTART}, C{#CONNECTIONSTOP}), and the parameters a GPRS init
sequence sets.

The box's own network stands in for the GPRS link, so these parameters are
stored, shown and saved, but not used.
"""

from typing import Optional

from tcpbridge.atcommands import READ, SET, Command
from tcpbridge.parameters import Parameter, integer, ipv4, runParameter, show, text
from tcpbridge.registry import PARAMETERS, CommandSpec, Service
from tcpbridge.results import FINAL, SYNTAX_ERROR, ATError
from tcpbridge.services.standard import identity


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
        "#VSTATE": CommandSpec("vstate", "a"),
        "#DISPLAYIP": CommandSpec("displayip", "a"),
        "#CONNECTIONSTART": CommandSpec("connectionstart", "a"),
        "#CONNECTIONSTOP": CommandSpec("connectionstop", "a"),
        "#VDNS": CommandSpec("vdns", "a"),
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
        _shared("+CGATT", 1, integer(0, 1), "(0-1)"),
        _shared("+CGCLASS", "B", text(2), '("A","B","CG","CC")', quoted=True),
        _shared("+CGDCONT", '1,"IP",""', text(200, quotes=True), '(1-4),("IP"),<apn>'),
        _shared("+CREG", 0, integer(0, 2), "(0-2)"),
        _shared("+CGREG", 0, integer(0, 2), "(0-2)"),
    ]

    def csq(self, command: Command) -> None:
        identity(self.modem, command, "+CSQ: %s" % (self.modem.config.csq,))

    def registration(self, command: Command) -> None:
        if command.kind == READ:
            mode = self.modem.profile.get(command.name)
            self.modem.info("%s: %s,%d" % (command.name, mode, self.modem.config.registration))
        else:
            runParameter(self.modem, PARAMETERS[command.name], command)

    def cpin(self, command: Command) -> None:
        if command.kind == READ:
            self.modem.info("+CPIN: %s" % (self.modem.config.cpin,))
        elif command.kind != SET:
            raise ATError(SYNTAX_ERROR)

    def accept(self, command: Command) -> None:
        pass

    def vdns(self, command: Command) -> None:
        """
        The DNS servers a GPRS init sets: shown, not used (names are
        resolved by the box's own resolver).
        """
        show(self.modem, ["#DNSSERV1", "#DNSSERV2"], 1)

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
        self.modem.result("Ok_Info_GprsActivation")
        self.modem.info(self.localAddress())
        return FINAL

    def connectionstop(self, command: Command) -> None:
        self.modem.idle()
        if self.modem.config.link == "explicit":
            self.modem.linkUp = False
