"""
Tests for L{tcpbridge.services.udp}: the UDP commands driven from the
serial side, with a fake reactor (the sessions themselves run on the real
one in L{tests.test_udp_integration}).
"""

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.config import BridgeConfig
from tcpbridge.modem import IDLE, Modem
from tcpbridge.parameters import BadValue
from tcpbridge.services.udp import udpServer
from tests.modemside import SerialSide
from tests.test_commands import NamelessResolver

OK = b"\r\nOK\r\n"


def cme(code: int) -> bytes:
    return b"\r\n#CME ERROR: %d\r\n" % (code,)


class UDPCommandTests(SerialSide, SynchronousTestCase):
    """
    C{AT#OUDP}, C{AT#LUDPSTART} and C{AT#VUDP} up to the socket.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.command(b"ATE0")
        self.command(b"AT+CMEE=1")

    def test_vudp(self) -> None:
        """
        AT#VUDP lists the UDP parameters of the profile named, with their power-on values.
        """
        self.command(b"AT#UDPPORT=2,5000")
        self.assertEqual(
            self.command(b"AT#VUDP=2"),
            b'\r\n#UDPSERV: "255.255.255.255"\r\n\r\n#UDPPORT: 5000\r\n'
            b"\r\n#UDPTXDELAY: 100\r\n\r\n#UDPDLEMODE: 1\r\n" + OK,
        )

    def test_listenBadValues(self) -> None:
        """
        AT#LUDPSTART without a port, or with a UDPSERV that is a name, answers 34882.
        """
        self.assertEqual(self.command(b"AT#LUDPSTART"), cme(34882))
        self.command(b'AT#UDPPORT=5000;#UDPSERV="peer.example.com"')
        self.assertEqual(self.command(b"AT#LUDPSTART"), cme(34882))
        self.assertEqual(self.modem.state, IDLE)

    def test_dialBadValues(self) -> None:
        """
        AT#OUDP without a port, or to 255.255.255.255, answers 34882.
        """
        self.command(b'AT#UDPSERV="192.0.2.1"')
        self.assertEqual(self.command(b"AT#OUDP"), cme(34882))
        self.command(b'AT#UDPPORT=5000;#UDPSERV="255.255.255.255"')
        self.assertEqual(self.command(b"AT#OUDP"), cme(34882))

    def test_unresolved(self) -> None:
        """
        AT#OUDP to a name that does not resolve answers 38027; the bridge is idle.
        """
        self.reactor.nameResolver = NamelessResolver(synchronous=True)
        self.command(b'AT#UDPPORT=5000;#UDPSERV="nowhere.invalid"')
        self.assertEqual(self.command(b"AT#OUDP"), cme(38027))
        self.assertEqual(self.modem.state, IDLE)

    def test_cancel(self) -> None:
        """
        A bare ETX while the name resolves cancels AT#OUDP with OK; the late answer changes
        nothing.
        """
        resolver = NamelessResolver()
        self.reactor.nameResolver = resolver
        self.command(b'AT#UDPPORT=5000;#UDPSERV="slow.example.com"')
        self.assertEqual(self.command(b"AT#OUDP"), b"")
        self.assertEqual(self.send(b"\x03"), OK)
        self.assertEqual(self.modem.state, IDLE)
        resolver.finish()
        self.assertEqual(self.written(), b"")
        self.assertEqual(self.command(b"AT"), OK)

    def test_ludpstopIdle(self) -> None:
        """
        AT#LUDPSTOP when nothing listens answers OK.
        """
        self.assertEqual(self.command(b"AT#LUDPSTOP"), OK)

    def test_udpServer(self) -> None:
        """
        UDPSERV takes an IPv4 or IPv6 address or a host name, and nothing else.
        """
        for good in ["10.0.0.1", "::1", "peer.example.com"]:
            self.assertEqual(udpServer(good), good)
        for bad in ["bad host!", "1::2::3", ""]:
            self.assertRaises(BadValue, udpServer, bad)
