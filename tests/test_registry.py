"""
Tests for L{tcpbridge.registry}: a service written and registered by the
test itself, touching no file of the package, runs through the same line
discipline, parameter handling and data-mode session as the built-in ones.
"""

from typing import List

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.modemside import SerialSide
from tcpbridge import registry
from tcpbridge.atcommands import Command
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import DATA, IDLE, Modem
from tcpbridge.parameters import Parameter, integer, profileId, show
from tcpbridge.registry import CONNECTING, LISTENING, CommandSpec, Service
from tcpbridge.results import FINAL

OK = b"\r\nOK\r\n"
WAITING = b"\r\nOk_Info_WaitingForData\r\n"
CLOSED = b"\r\nOk_Info_SocketClosed\r\n"


class Toy(Service):
    """
    A toy service: C{AT#TOY} opens a session with an in-memory peer;
    C{#TOYDLE} is its DLE mode, C{AT#VTOY} lists it.
    """

    name = "toy"
    commands = {
        "#TOY": CommandSpec("toy", "a"),
        "#VTOY": CommandSpec("vtoy", "a", "#VTOY: (1-2)"),
    }
    parameters = [Parameter("#TOYDLE", 1, integer(0, 1), "(0-1)", listing="#VTOY")]
    peers: List[StringTransport] = []

    def toy(self, command: Command) -> str:
        m = self.modem
        pid = profileId(command)
        m.claim(self, pid, CONNECTING)
        peer = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.7", 7))
        self.peers.append(peer)
        self.session = m.openSession(peer, m.profile.get("#TOYDLE", pid) == 1, 0, "toy")
        return FINAL

    def vtoy(self, command: Command) -> None:
        show(self.modem, ["#TOYDLE"], profileId(command))


class RegistryTests(SerialSide, SynchronousTestCase):
    """
    Tests for L{registry.register} with a service from outside the package.
    """

    def setUp(self) -> None:
        registry.register(Toy)
        self.addCleanup(registry.unregister, Toy)
        Toy.peers = []
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.command(b"ATE0")

    def test_commandAndParameter(self) -> None:
        """
        The toy's command and parameter answer every form through the
        registry: test, read, set, its listing and C{AT#VALL}.
        """
        self.assertEqual(self.command(b"AT#VTOY=?"), b"\r\n#VTOY: (1-2)\r\n" + OK)
        self.assertEqual(self.command(b"AT#TOYDLE=?"), b"\r\n#TOYDLE: (0-1)\r\n" + OK)
        self.assertEqual(self.command(b"AT#TOYDLE=0"), OK)
        self.assertEqual(self.command(b"AT#TOYDLE?"), b"\r\n#TOYDLE: 0\r\n" + OK)
        self.assertEqual(self.command(b"AT#VTOY"), b"\r\n#TOYDLE: 0\r\n" + OK)
        self.assertIn(b"\r\n#TOYDLE: 0\r\n", self.command(b"AT#VALL"))
        self.assertEqual(self.command(b"AT#TOYDLE=2"), b"\r\nERROR\r\n")

    def test_unregistered(self) -> None:
        """
        Once unregistered, the toy's command is unknown again.
        """
        registry.unregister(Toy)
        self.addCleanup(registry.register, Toy)
        modem = Modem(BridgeConfig(), self.reactor)
        transport = StringTransport()
        modem.makeConnection(transport)
        modem.dataReceived(b"AT#TOY\r")
        self.assertEqual(transport.value(), b"AT#TOY\r\r\nERROR\r\n")

    def test_session(self) -> None:
        """
        C{AT#TOY} enters data mode through the shared session: host bytes
        are DLE-decoded to the peer, peer bytes coded to the host, the
        owner's parameters are refused while it runs, and a peer close
        ends with the ETX and C{Ok_Info_SocketClosed}.
        """
        self.assertEqual(self.command(b"AT#TOY"), WAITING)
        self.assertEqual(self.modem.state, DATA)
        [peer] = Toy.peers
        self.assertEqual(self.send(b"a\x10\x03b"), b"")
        self.assertEqual(peer.value(), b"a\x03b")
        session = self.modem.session
        assert session is not None
        session.peerData(b"x\x03y")
        self.assertEqual(self.written(), b"x\x10\x03y")
        session.peerLost(None, Failure(ConnectionDone()))
        self.assertEqual(self.written(), b"\x03" + CLOSED + OK)
        self.assertEqual(self.modem.state, IDLE)
        self.assertEqual(self.command(b"AT"), OK)

    def test_hostClose(self) -> None:
        """
        A bare ETX from the host closes the toy's session like a TCP one,
        and the rest of the line is command input again.
        """
        self.command(b"AT#TOY")
        [peer] = Toy.peers
        self.send(b"last\x03AT\r")
        self.assertEqual(peer.value(), b"last")
        self.assertTrue(peer.disconnecting)
        self.modem.session.peerLost(None, Failure(ConnectionDone()))
        self.assertEqual(self.written(), CLOSED + OK + OK)

    def test_busyParameter(self) -> None:
        """
        While the toy runs with profile 1, its parameter of profile 1 is
        refused with 37123; the parameters of other services are not.
        """
        self.command(b"AT+CMEE=1")
        self.modem.claim(self.modem.services["toy"], 1, LISTENING)
        self.assertEqual(self.command(b"AT#TOYDLE=0"), b"\r\n#CME ERROR: 37123\r\n")
        self.assertEqual(self.command(b"AT#TOYDLE=2,0"), OK)
        self.assertEqual(self.command(b"AT#TCPPORT=23"), OK)
        self.modem.release()
        self.assertEqual(self.command(b"AT#TOYDLE=0"), OK)

    def test_nameClash(self) -> None:
        """
        A service cannot take a command or parameter name already taken.
        """

        class Clash(Service):
            name = "clash"
            commands = {"#OTCP": CommandSpec("otcp", "a")}

        self.assertRaises(ValueError, registry.register, Clash)
        self.assertNotIn(Clash, registry.SERVICES)
