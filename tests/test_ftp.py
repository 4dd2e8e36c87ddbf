"""
Unit tests of the FTP service (L{tcpbridge.services.ftp}) and its pieces
(L{tcpbridge.ftpdata}), on a memory reactor: the server's side of the
control and data connections is played by the test, line by line.
"""

from typing import Any, List, Tuple

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone, ConnectionLost, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols import ftp
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge import dle
from tcpbridge.config import BridgeConfig, ConfigError, parseConfig
from tcpbridge.ftpdata import Client, DataLink, replyCode
from tcpbridge.modem import IDLE, Modem
from tests.modemside import SerialSide

OK = b"\r\nOK\r\n"
DATA_BEGIN = b"\r\nOk_Info_DataBegin\r\n"
WAITING = b"\r\nOk_Info_WaitingForData\r\n"
SERVER = IPv4Address("TCP", "127.0.0.1", 21)
LOCAL = IPv4Address("TCP", "127.0.0.5", 40000)


#: What the bridge sends to log in as C{u} with no password, and the answers.
LOGIN = [
    (b"USER u", b"331 password please"),
    (b"PASS ", b"230 in"),
    (b"TYPE I", b"200 binary"),
]


def cme(code: int) -> bytes:
    return b"\r\n#CME ERROR: %d\r\n" % (code,)


class ReplyCodeTests(SynchronousTestCase):
    """
    Tests for L{replyCode}.
    """

    def test_refused(self) -> None:
        """
        A refused command gives the server's last reply code.
        """
        f = Failure(ftp.CommandFailed(["550-no", "550 such file"]))
        self.assertEqual(replyCode(f), 550)

    def test_wrapped(self) -> None:
        """
        A refusal that made Twisted's client drop the connection is found
        inside the connection-lost error.
        """
        inner = Failure(ftp.CommandFailed(["530 Login incorrect."]))
        self.assertEqual(replyCode(Failure(ftp.ConnectionLost("FTP connection lost", inner))), 530)

    def test_notARefusal(self) -> None:
        """
        A connection failure has no reply code.
        """
        self.assertIsNone(replyCode(Failure(ConnectionRefusedError())))


class ConfigTests(SynchronousTestCase):
    """
    The FTP keys of the C{.ini} file.
    """

    def test_keys(self) -> None:
        """
        The FTP parameters take power-on values from the file, and
        C{ftp_timeout} sets the silence time-out.
        """
        [bridge] = parseConfig(
            "[bridge:a]\ndevice = pty:/tmp/x\nftpserv = ftp.example.com\nftptype = a\n"
            "ftpmode = 1\nftp_timeout = 5\n"
        )
        self.assertEqual(bridge.ftp_timeout, 5)
        self.assertEqual(
            bridge.parameters, {"ftpserv": "ftp.example.com", "ftptype": "A", "ftpmode": 1}
        )

    def test_badKey(self) -> None:
        """
        A bad FTP value stops start-up with a line naming the key.
        """
        with self.assertRaises(ConfigError) as caught:
            parseConfig("[bridge:a]\ndevice = pty:/tmp/x\nftptype = E\n")
        self.assertIn("[bridge:a] ftptype: not A or I", str(caught.exception))


class _Session:
    def __init__(self) -> None:
        self.data: List[bytes] = []
        self.lost: List[Any] = []

    def peerData(self, data: bytes) -> None:
        self.data.append(data)

    def peerLost(self, link: Any, reason: Any) -> None:
        self.lost.append(reason)


class DataLinkTests(SynchronousTestCase):
    """
    Tests for L{DataLink}, the data connection as a session's peer.
    """

    def link(self, upload: bool) -> Tuple[DataLink, StringTransport, _Session, List[int]]:
        self.clock = MemoryReactorClock()
        connected: List[int] = []
        link = DataLink(self.clock, upload, lambda: connected.append(1))
        transport = StringTransport()
        session = _Session()
        link.connected(transport)
        return link, transport, session, connected

    def test_heldUntilOpened(self) -> None:
        """
        The data connection is not read until the session opens.
        """
        link, transport, session, connected = self.link(False)
        self.assertEqual(connected, [1])
        self.assertEqual(transport.producerState, "paused")
        link.opened(session)
        self.assertEqual(transport.producerState, "producing")
        link.received(b"file")
        self.assertEqual(session.data, [b"file"])

    def test_downloadIgnoresHost(self) -> None:
        """
        Downloading, the host's bytes are dropped; its close abandons the
        file at once.
        """
        link, transport, session, _ = self.link(False)
        link.opened(session)
        link.write(b"noise")
        self.assertEqual(transport.value(), b"")
        self.assertEqual(link.dropped, 5)
        link.loseConnection()
        self.assertTrue(transport.disconnected)

    def test_downloadLost(self) -> None:
        """
        Downloading, the end of the data connection ends the session at
        once.
        """
        link, transport, session, _ = self.link(False)
        link.opened(session)
        link.lost(Failure(ConnectionDone()))
        self.assertEqual(len(session.lost), 1)

    def test_upload(self) -> None:
        """
        Uploading, the host's bytes go to the server, and its close closes
        the data connection once they are out (not an abort).
        """
        link, transport, session, _ = self.link(True)
        link.opened(session)
        link.write(b"log")
        self.assertEqual(transport.value(), b"log")
        link.loseConnection()
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        link.lost(Failure(ConnectionDone()))
        self.assertEqual(len(session.lost), 1)

    def test_uploadBrokenHeldUntilHostEnds(self) -> None:
        """
        Uploading, a data connection lost before the host's ETX does not
        end the session: the host's further bytes are dropped, and the
        session ends at its ETX.
        """
        link, transport, session, _ = self.link(True)
        link.opened(session)
        link.lost(Failure(ConnectionLost()))
        self.assertEqual(session.lost, [])
        link.write(b"AT+CGMI\r")
        self.assertEqual(transport.value(), b"")
        self.assertEqual(link.dropped, 8)
        link.loseConnection()
        self.clock.advance(0)
        self.assertEqual(len(session.lost), 1)

    def test_pause(self) -> None:
        """
        The session's pauses reach the data connection, and are known.
        """
        link, transport, session, _ = self.link(False)
        link.opened(session)
        link.pauseProducing()
        self.assertTrue(link.paused)
        self.assertEqual(transport.producerState, "paused")
        link.resumeProducing()
        self.assertFalse(link.paused)
        self.assertEqual(transport.producerState, "producing")


class ClientTests(SynchronousTestCase):
    """
    Tests for L{Client}, Twisted's FTP client as the service drives it.
    """

    def client(self) -> Tuple[Client, MemoryReactorClock, List[bytes]]:
        reactor = MemoryReactorClock()
        replies: List[bytes] = []
        client = Client(reactor, True, replies.append)
        client.makeConnection(StringTransport(hostAddress=LOCAL, peerAddress=SERVER))
        return client, reactor, replies

    def test_noLoginOfItsOwn(self) -> None:
        """
        The client sends nothing by itself after the greeting.
        """
        client, _, _ = self.client()
        client.dataReceived(b"220 welcome\r\n")
        self.assertEqual(client.transport.value(), b"")

    def test_preliminaryReplies(self) -> None:
        """
        Every reply line is reported, the preliminary ones too.
        """
        client, _, replies = self.client()
        client.dataReceived(b"220 welcome\r\n150 here it comes\r\n")
        self.assertEqual(replies, [b"220 welcome", b"150 here it comes"])

    def test_activeListensWhereTheControlConnectionIs(self) -> None:
        """
        In active mode the data port listens on the control connection's
        local address, with the reactor given, and admits only the server.
        """
        client, reactor, _ = self.client()

        class Command:
            protocol = ftp.ProtocolWrapper(None, None)

        command = Command()
        client.generatePortCommand(command)
        [(port, factory, _, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (0, "127.0.0.5"))
        self.assertTrue(command.text.startswith("PORT 127,0,0,5,"))
        self.assertIsNone(factory.buildProtocol(IPv4Address("TCP", "10.1.1.1", 20)))
        factory.port = StringTransport()
        self.assertIs(factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 20)), command.protocol)


class FTPServiceTests(SerialSide, SynchronousTestCase):
    """
    C{AT#FTPGET} and C{AT#FTPPUT} on a memory reactor, the test playing the
    server.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(ftp_timeout=60), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.command(b"ATE0")
        for line in (b"AT+CMEE=1", b'AT#FTPSERV="127.0.0.1"', b'AT#FTPUN="u"'):
            self.assertEqual(self.command(line), OK)

    def control(self) -> Tuple[Client, StringTransport]:
        """
        Accept the bridge's control connection and greet it.
        """
        self.reactor.advance(0)
        host, port, factory = self.reactor.tcpClients[-1][:3]
        self.assertEqual((host, port), ("127.0.0.1", 21))
        client = factory.buildProtocol(SERVER)
        transport = StringTransport(hostAddress=LOCAL, peerAddress=SERVER)
        client.makeConnection(transport)
        client.dataReceived(b"220 hello\r\n")
        return client, transport

    def exchange(self, client: Any, transport: StringTransport, *steps: Tuple[bytes, bytes]) -> None:
        """
        For each step, the bridge must have sent the command, and the
        server answers.
        """
        for sent, answer in steps:
            self.assertEqual(transport.value(), sent + b"\r\n")
            transport.clear()
            client.dataReceived(answer + b"\r\n")

    def dataConnection(self, protocol: Any = None) -> Tuple[Any, StringTransport]:
        host, port, factory = self.reactor.tcpClients[-1][:3]
        self.assertEqual((host, port), ("127.0.0.1", 30000))
        protocol = factory.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 30000))
        protocol.makeConnection(transport)
        return protocol, transport

    def downloading(self) -> Tuple[Client, StringTransport, Any, StringTransport]:
        """
        Start C{AT#FTPGET} of file C{a} up to the server's 150; return the
        control connection and the data connection, each with its transport.
        """
        self.command(b'AT#FTPGETFILENAME="a"')
        self.send(b"AT#FTPGET\r")
        client, control = self.control()
        self.exchange(
            client,
            control,
            *LOGIN,
            (b"PASV", b"227 Entering Passive Mode (127,0,0,1,117,48)."),
        )
        data, transport = self.dataConnection()
        client.dataReceived(b"150 here it comes\r\n")
        self.written()
        return client, control, data, transport

    def test_get(self) -> None:
        """
        A download: login, type, path, passive transfer; the host gets
        C{Ok_Info_DataBegin} once the server accepts, the file DLE-coded
        (whatever C{DLEMODE} says), the bare ETX, and C{OK} once the server
        confirms.
        """
        self.command(b"AT#DLEMODE=0")
        self.command(b'AT#FTPGETPATH="etc"')
        self.command(b'AT#FTPGETFILENAME="a.cfg"')
        self.assertEqual(self.send(b"AT#FTPGET\r"), b"")
        client, control = self.control()
        self.exchange(
            client,
            control,
            *LOGIN,
            (b"CWD etc", b"250 there"),
            (b"PASV", b"227 Entering Passive Mode (127,0,0,1,117,48)."),
        )
        data, transport = self.dataConnection()
        self.assertEqual(control.value(), b"RETR a.cfg\r\n")
        self.assertEqual(self.written(), b"")
        client.dataReceived(b"150 here it comes\r\n")
        self.assertEqual(self.written(), DATA_BEGIN)
        data.dataReceived(b"x\x03y\x10")
        self.assertEqual(self.written(), dle.encode(b"x\x03y\x10"))
        data.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), dle.ETX)
        client.dataReceived(b"226 done\r\n")
        self.assertEqual(self.written(), OK)
        self.assertEqual(self.modem.state, IDLE)
        self.assertIn(b"QUIT\r\n", control.value())
        self.assertTrue(control.disconnecting)

    def test_put(self) -> None:
        """
        An upload in active mode: C{Ok_Info_WaitingForData} once the server
        accepts, the host's bytes decoded (whatever C{DLEMODE} says) to the
        data connection, its ETX closes it, C{OK} once the server confirms.
        """
        self.command(b"AT#DLEMODE=0")
        self.command(b'AT#FTPPUTFILENAME="log"')
        self.command(b"AT#FTPMODE=1")
        self.send(b"AT#FTPPUT\r")
        client, control = self.control()
        self.exchange(
            client,
            control,
            *LOGIN,
        )
        self.assertTrue(control.value().startswith(b"PORT 127,0,0,5,"))
        port, factory = self.reactor.tcpServers[-1][:2]
        control.clear()
        client.dataReceived(b"200 ok\r\n")
        self.assertEqual(control.value(), b"STOR log\r\n")
        client.dataReceived(b"150 send it\r\n")
        self.assertEqual(self.written(), b"")
        factory.port = type("Port", (), {"loseConnection": lambda self: None})()
        sender = factory.buildProtocol(SERVER)
        transport = StringTransport(peerAddress=SERVER)
        sender.makeConnection(transport)
        self.assertEqual(self.written(), WAITING)
        self.send(b"a\x10\x03b\x03")
        self.assertEqual(transport.value(), b"a\x03b")
        self.assertTrue(transport.disconnecting)
        sender.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.written(), b"")
        client.dataReceived(b"226 stored\r\n")
        self.assertEqual(self.written(), OK)

    def test_silentServer(self) -> None:
        """
        A server that does not answer the login for C{ftp_timeout} seconds
        gives 37964.
        """
        self.command(b'AT#FTPGETFILENAME="a"')
        self.send(b"AT#FTPGET\r")
        client, control = self.control()
        self.reactor.advance(59)
        self.assertEqual(self.written(), b"")
        self.reactor.advance(1)
        self.assertEqual(self.written(), cme(37964))
        self.assertEqual(self.modem.state, IDLE)

    def test_hostHoldsDownload(self) -> None:
        """
        While the host holds a download (the serial line's buffer is full),
        a silent server is not an error.
        """
        client, control, data, transport = self.downloading()
        self.modem.session.splice._peerThrottle.pauseProducing()
        self.reactor.advance(600)
        self.assertEqual(self.written(), b"")
        self.assertFalse(transport.disconnecting)
        self.modem.session.splice._peerThrottle.resumeProducing()
        self.reactor.advance(60)
        self.assertTrue(transport.disconnected)
        data.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.written(), dle.ETX + cme(37964))

    def test_badValues(self) -> None:
        """
        Without a file name the transfer does not start (34882); while TCP
        listens, it is busy (37123).
        """
        self.assertEqual(self.command(b"AT#FTPGET"), cme(34882))
        self.command(b'AT#FTPGETFILENAME="a"')
        self.command(b"AT#TCPPORT=%d" % (2323,))
        self.assertEqual(self.command(b"AT#LTCPSTART"), OK)
        self.assertEqual(self.command(b"AT#FTPGET"), cme(37123))

    def test_listing(self) -> None:
        """
        C{AT#VFTP} lists the ten FTP parameters.
        """
        answer = self.command(b"AT#VFTP")
        self.assertTrue(answer.endswith(OK))
        lines = [l for l in answer.split(b"\r\n") if l.startswith(b"#FTP")]
        self.assertEqual(len(lines), 10)
        self.assertIn(b'#FTPSERV: "127.0.0.1"', lines)
        self.assertIn(b"#FTPTYPE: I", lines)

    def test_lineLost(self) -> None:
        """
        The serial line lost during a download stops the transfer: both
        connections are dropped and the bridge is idle, with no answer
        written anywhere.
        """
        client, control, data, transport = self.downloading()
        self.modem.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(transport.disconnected)
        self.assertTrue(control.disconnecting)
        data.connectionLost(Failure(ConnectionLost()))
        client.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.modem.state, IDLE)
        self.assertIsNone(self.modem.services["ftp"].transfer)
        self.assertEqual(self.written(), b"")
