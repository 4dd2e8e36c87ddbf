"""
Tests for L{tcpbridge.commandline}'s hand-over of the host's input: the LF
of a CR LF that ended a command opening data mode belongs to the command
line and never reaches the peer, whichever service opened the session.
"""

from typing import List

from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge import registry
from tcpbridge.atcommands import Command
from tcpbridge.commandline import LF_GRACE
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem
from tcpbridge.registry import CONNECTING, LISTENING, CommandSpec, Service
from tcpbridge.results import FINAL
from tests.modemside import SerialSide
from tests.test_registry import Toy

WAITING = b"\r\nOk_Info_WaitingForData\r\n"


class Dial(Service):
    """
    A service whose C{AT#DIAL} opens its session later, as dialling does.
    """

    name = "dial"
    commands = {"#DIAL": CommandSpec("dial", "a")}
    opening: List[Deferred] = []

    def dial(self, command: Command) -> Deferred:
        self.modem.claim(self, 1, CONNECTING)
        d: Deferred = Deferred()
        self.opening.append(d)
        return d


class HandOverTests(SerialSide, SynchronousTestCase):
    """
    An LF right after the CR of a command that opened data mode is dropped;
    any other byte, and an LF at any other time, is data.
    """

    def setUp(self) -> None:
        for service in (Toy, Dial):
            registry.register(service)
            self.addCleanup(registry.unregister, service)
        Toy.peers, Dial.opening = [], []
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.command(b"ATE0")

    def peer(self) -> StringTransport:
        [peer] = Toy.peers
        return peer

    def test_sameRead(self) -> None:
        """
        CR LF and data in one read: the data reaches the peer without the LF.
        """
        self.assertEqual(self.send(b"AT#TOY\r\nabc"), WAITING)
        self.assertEqual(self.peer().value(), b"abc")

    def test_laterRead(self) -> None:
        """
        The LF in a read of its own just after the session opened is still dropped.
        """
        self.send(b"AT#TOY\r")
        self.reactor.advance(LF_GRACE / 2)
        self.send(b"\n")
        self.send(b"\nabc")
        self.assertEqual(self.peer().value(), b"\nabc")

    def test_afterGrace(self) -> None:
        """
        An LF that comes well after the session opened is the host's data.
        """
        self.send(b"AT#TOY\r")
        self.reactor.advance(LF_GRACE * 2)
        self.send(b"\nabc")
        self.assertEqual(self.peer().value(), b"\nabc")

    def test_crOnly(self) -> None:
        """
        With CR line endings, nothing of the data is dropped, its LFs included.
        """
        self.send(b"AT#TOY\rx\n")
        self.assertEqual(self.peer().value(), b"x\n")

    def test_heldWhileOpening(self) -> None:
        """
        An LF held while the session is being opened is dropped; the bytes after it reach the peer.
        """
        self.assertEqual(self.send(b"AT#DIAL\r\nfirst"), b"")
        peer = StringTransport()
        self.modem.openSession(peer, False, 0, "dialled")
        Dial.opening[0].callback(FINAL)
        self.assertEqual(self.written(), WAITING)
        self.assertEqual(peer.value(), b"first")

    def test_notOpenedByTheCommand(self) -> None:
        """
        A session that opens later, while listening, takes a first LF as data.
        """
        self.send(b"AT\r")
        self.modem.claim(self.modem.services["toy"], 1, LISTENING)
        peer = StringTransport()
        self.modem.openSession(peer, False, 0, "listened")
        self.send(b"\nabc")
        self.assertEqual(peer.value(), b"\nabc")
