"""
The UDP service: a session with one UDP peer, dialled (C{AT#OUDP}) or
admitted while listening (C{AT#LUDPSTART}, C{AT#LUDPSTOP}), and its
parameters (C{AT#VUDP}).

UDP has no connection: listening binds C{UDPPORT}, and the first datagram
from a source that C{UDPSERV} and the operator's C{allow} list admit opens
the session and fixes the peer; datagrams from anyone else are dropped
unseen.  The session is the shared data-mode session, over a
L{tcpbridge.datagram.DatagramPeer}: host bytes leave as datagrams gathered
by C{UDPTXDELAY}, each datagram received reaches the host whole.
"""

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge.atcommands import ACTION, Command
from tcpbridge.datagram import Address, DatagramPeer, listenUDP
from tcpbridge.listener import EVERYONE, AdmissionFilter
from tcpbridge.parameters import BadValue, Parameter, integer, profileId, server
from tcpbridge.registry import CONNECTING, LISTENING, CommandSpec, Service
from tcpbridge.resolve import ANY_FAMILY, isAddress, resolve
from tcpbridge.results import BAD_VALUE, DNS_FAILED, FINAL, TCP_OPEN_FAILED, ATError


def udpServer(text: str) -> str:
    """
    Check an IPv4 address, a host name, or (beyond the modem) an IPv6
    address.
    """
    if isAddress(text) and ":" in text:
        return text
    try:
        return server(text)
    except BadValue:
        raise BadValue("not an IP address or a host name: %r" % (text,))


def _udp(name: str, default: object, parse: object, allowed: str, quoted: bool = False) -> Parameter:
    return Parameter(name, default, parse, allowed, quoted=quoted, listing="#VUDP")  # type: ignore[arg-type]


class UDP(Service):
    """
    One bridge's UDP service: a socket waiting for its first datagram, or a
    name being resolved, then the session.

    @ivar socket: the socket while listening (before the session opens).
    @ivar rejected: datagrams dropped while listening, from sources not
        admitted.
    """

    log = Logger()

    name = "udp"
    commands = {
        "#VUDP": CommandSpec("listing", "as", "#VUDP: (1-2)"),
        "#OUDP": CommandSpec("oudp", "as", "#OUDP: (1-2)"),
        "#LUDPSTART": CommandSpec("ludpstart", "as", "#LUDPSTART: (1-2)"),
        "#LUDPSTOP": CommandSpec("ludpstop", "as", "#LUDPSTOP: (1-2)"),
    }
    parameters = [
        _udp(
            "#UDPSERV",
            EVERYONE,
            udpServer,
            '"<IP address or host name, up to 120 characters>"',
            quoted=True,
        ),
        _udp("#UDPPORT", 0, integer(0, 65535), "(0-65535)"),
        _udp("#UDPTXDELAY", 100, integer(0, 32760, 20), "(0-32760, multiple of 20)"),
        _udp("#UDPDLEMODE", 1, integer(0, 1), "(0-1)"),
    ]

    def __init__(self, modem: Any) -> None:
        Service.__init__(self, modem)
        self.socket: Optional[DatagramPeer] = None
        self.rejected = 0
        self._opening: Optional[Deferred] = None

    def _newSocket(self, unsolicited: Any = None) -> DatagramPeer:
        c = self.modem.config
        return DatagramPeer(
            self.modem.reactor, c.name, c.udp_payload, c.udp_buffer, unsolicited, self.modem.counters
        )

    # -- listening -------------------------------------------------------------

    def ludpstart(self, command: Command) -> None:
        m = self.modem
        pid = m.ipStart(command)
        port = m.profile.get("#UDPPORT", pid)
        udpserv = m.profile.get("#UDPSERV", pid)
        assert isinstance(port, int) and isinstance(udpserv, str)
        if not 1 <= port <= 65535 or not isAddress(udpserv):
            raise ATError(BAD_VALUE)
        admission = AdmissionFilter(udpserv, m.config.allow)
        sock = self._newSocket(lambda data, addr: self._unsolicited(admission, data, addr))
        interface = m.config.interface
        try:
            listenUDP(m.reactor, port, sock, interface)
        except CannotListenError as e:
            self.log.warn(
                "{bridge}: cannot listen on UDP port {port}: {error}",
                bridge=m.name,
                port=port,
                error=e.socketError,
            )
            raise ATError(TCP_OPEN_FAILED)
        self.socket, self.rejected = sock, 0
        m.claim(self, pid, LISTENING)
        self.log.info(
            "{bridge}: listening on {interface} UDP port {port}, admitting {udpserv}",
            bridge=m.name,
            interface=interface,
            port=port,
            udpserv=udpserv,
        )

    def _unsolicited(self, admission: AdmissionFilter, data: bytes, addr: Address) -> None:
        """
        A datagram while listening: the first one admitted opens the
        session; the others are dropped, unseen by the host.
        """
        m = self.modem
        sock = self.socket
        reason = admission.refusal(addr[0])
        if reason is None and (sock is None or m.transport is None or m.state != LISTENING):
            reason = "no session can open now"
        if reason is not None:
            self.rejected += 1
            m.counters.udpDropped += 1
            if self.rejected == 1:
                self.log.info(
                    "{bridge}: dropped a datagram from {peer}: {reason} "
                    "(further ones are counted)",
                    bridge=m.name,
                    peer=addr[0],
                    reason=reason,
                )
            return
        assert sock is not None
        self.socket = None
        self._logRejected()
        sock.transport.connect(*addr)
        self._open(sock, addr)
        sock.datagramReceived(data, addr)

    def _logRejected(self) -> None:
        if self.rejected:
            self.log.info(
                "{bridge}: {count} datagrams from sources not admitted were dropped",
                bridge=self.modem.name,
                count=self.rejected,
            )

    def ludpstop(self, command: Command) -> None:
        pid = profileId(command)
        if self.socket is not None and pid == self.modem.activeProfile:
            self._stopListening()

    def bareETX(self) -> None:
        # A bare ETX while listening stops the listening.
        if self.socket is not None:
            self.modem.run([Command("#LUDPSTOP", ACTION)], None)

    def _stopListening(self) -> None:
        sock, self.socket = self.socket, None
        assert sock is not None
        self.modem.release()
        sock.loseConnection()
        self._logRejected()
        self.log.info("{bridge}: UDP listening stopped", bridge=self.modem.name)

    # -- the session ------------------------------------------------------------

    def _open(self, sock: DatagramPeer, peer: Address) -> None:
        """
        Hand C{sock}, connected to C{peer}, to a new data-mode session.
        """
        m = self.modem
        pid = m.activeProfile
        dleMode = m.profile.get("#UDPDLEMODE", pid) == 1
        delay = m.profile.get("#UDPTXDELAY", pid)
        assert isinstance(delay, int)
        sock.peer = peer
        session = m.openSession(sock, dleMode, delay / 1000.0, "%s (UDP)" % (sock.describe(),))
        sock.attach(session, peer)

    # -- dialling ---------------------------------------------------------------

    def oudp(self, command: Command) -> Deferred:
        m = self.modem
        pid = m.ipStart(command)
        host = m.profile.get("#UDPSERV", pid)
        port = m.profile.get("#UDPPORT", pid)
        outport = m.profile.get("#OUTPORT", pid)
        assert isinstance(host, str) and isinstance(port, int) and isinstance(outport, int)
        if not 1 <= port <= 65535 or host == EVERYONE:
            raise ATError(BAD_VALUE)
        m.claim(self, pid, CONNECTING)
        opening = self._opening = Deferred()
        self.log.info("{bridge}: opening UDP to {host} port {port}", bridge=m.name, host=host, port=port)

        def resolved(addresses: Any) -> None:
            if opening is not self._opening:
                return
            self._opening = None
            if not addresses:
                self._failed(opening, "%s does not resolve" % (host,), DNS_FAILED)
                return
            # IPv6 when the bridge's interface is, else IPv4 first.
            v6 = [a for a in addresses if ":" in a]
            wanted = v6 if ":" in m.config.interface and v6 else addresses
            address = wanted[0]
            sock = self._newSocket()
            try:
                listenUDP(m.reactor, outport, sock, "::" if ":" in address else "").connect(
                    address, port
                )
            except (CannotListenError, OSError) as e:
                if sock.transport is not None:
                    sock.transport.stopListening()
                self._failed(opening, str(e), TCP_OPEN_FAILED)
                return
            self._open(sock, (address, port))
            opening.callback(FINAL)

        def failed(f: Failure) -> None:
            if opening is self._opening:
                self._opening = None
                self._failed(opening, f.getErrorMessage(), DNS_FAILED)

        resolve(m.reactor, host, ANY_FAMILY).addCallbacks(resolved, failed)
        return opening

    def _failed(self, opening: Deferred, why: str, code: int) -> None:
        self.log.info("{bridge}: UDP open failed: {error}", bridge=self.modem.name, error=why)
        self.modem.release()
        opening.errback(ATError(code))

    def cancel(self, why: str) -> None:
        """
        Give up resolving the name (the host's ETX): C{OK}.
        """
        opening, self._opening = self._opening, None
        if opening is not None and self.modem.runs(self.name):
            self.log.info("{bridge}: UDP open {why}", bridge=self.modem.name, why=why)
            self.modem.release()
            opening.callback(None)

    # -- the serial line closes ------------------------------------------------------

    def shutdown(self) -> None:
        if self.socket is not None:
            self._stopListening()
        self.cancel("abandoned: the serial line is closing")

