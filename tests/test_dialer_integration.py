"""
Integration tests on the real reactor for dialling out with C{AT#OTCP}:
the real L{BridgeService} on a C{pty:} device, the
test playing the host on the pty link and the peer as a TCP server on
127.0.0.1.

Every address is on loopback.  A connection that neither succeeds nor fails
(for the time-out and the host's cancel) goes to a "blackhole": a listening
socket whose accept queue is full, so that the kernel drops further SYNs.
"""

import os
import socket
from typing import Any, Generator, List, Tuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest, TestCase

from tcpbridge import dle
from tcpbridge.config import BridgeConfig
from tcpbridge.serial import PTY_PREFIX
from tcpbridge.service import BridgeService
from tests.hostside import (
    CLOSED,
    ERROR,
    ETX,
    OK,
    WAITING,
    PeerServer,
    Receiver,
    SameBytesMixin,
    connectPeer,
    freePort,
    listenPeer,
    openHost,
)



def cme(code: int) -> bytes:
    """
    The response to a failed command after C{AT+CMEE=1}.
    """
    return b"\r\n#CME ERROR: %d\r\n" % (code,)


def isConnected(s: socket.socket) -> bool:
    """
    Whether a non-blocking client socket has finished its handshake.
    """
    try:
        s.getpeername()
    except OSError:
        return False
    return True


class DialOutTests(SameBytesMixin, TestCase):
    """
    A host opening sessions with C{AT#OTCP} to a TCP server on loopback,
    data flowing and sessions closing, all through the real service.
    """

    timeout = 60

    # -- the pieces -------------------------------------------------------

    def startBridge(self, **kwargs: Any) -> Receiver:
        """
        Start one bridge on a fresh pty (stopped at clean-up) and open its
        host end (closed at clean-up).
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        kwargs.setdefault("interface", "127.0.0.1")
        config = BridgeConfig(device=PTY_PREFIX + os.path.join(directory, "host"), **kwargs)
        service = BridgeService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        host = openHost(config.device[len(PTY_PREFIX) :], reactor)
        self.addCleanup(host.close)
        return host

    def startServer(self) -> Tuple[PeerServer, int]:
        """
        A TCP server on 127.0.0.1 for the bridge to dial; its port and its
        connections are closed at clean-up.
        """
        server, port = listenPeer(reactor)
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: gatherResults([r.close() for r in server.accepted]))
        return server, port.getHost().port

    @inlineCallbacks
    def hello(self, host: Receiver) -> Generator[Deferred, Any, None]:
        """
        Turn echo off and CME error codes on.
        """
        host.write(b"ATE0\r")
        self.assertEqual((yield host.result()), b"ATE0\r" + OK)
        self.assertEqual((yield host.command(b"AT+CMEE=1")), OK)

    @inlineCallbacks
    def setTarget(
        self, host: Receiver, tcpserv: str, port: int, dlemode: int = 1
    ) -> Generator[Deferred, Any, None]:
        """
        Set profile 1's TCPSERV, TCPPORT and DLEMODE, and TCPTXDELAY 0 so
        that host bytes leave at once.
        """
        for line in [
            b'AT#TCPSERV="%s"' % (tcpserv.encode("ascii"),),
            b"AT#TCPPORT=%d" % (port,),
            b"AT#DLEMODE=%d" % (dlemode,),
            b"AT#TCPTXDELAY=0",
        ]:
            self.assertEqual((yield host.command(line)), OK, line)

    @inlineCallbacks
    def dial(
        self, host: Receiver, server: PeerServer, command: bytes = b"AT#OTCP"
    ) -> Generator[Deferred, Any, Receiver]:
        """
        Send C{command}; the server must accept the connection and the host
        must be told the session opened (and nothing else).
        """
        host.write(command + b"\r")
        connection = yield server.connection()
        self.assertEqual((yield host.until(WAITING)), WAITING)
        return connection

    @inlineCallbacks
    def session(
        self, dlemode: int = 1, **kwargs: Any
    ) -> Generator[Deferred, Any, Tuple[Receiver, Receiver]]:
        """
        A bridge whose host has dialled a fresh server; return the host and
        the server's side of the connection.
        """
        server, port = self.startServer()
        host = self.startBridge(**kwargs)
        yield self.hello(host)
        yield self.setTarget(host, "127.0.0.1", port, dlemode)
        connection = yield self.dial(host, server)
        return host, connection

    def refusingPort(self) -> int:
        """
        A loopback port held bound but not listening, so a connection to it
        is refused and nothing else can take it meanwhile.
        """
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

    @inlineCallbacks
    def blackhole(self) -> Generator[Deferred, Any, int]:
        """
        A port on 127.0.0.1 where a connection neither succeeds nor fails:
        a socket listening with backlog 0 whose accept queue is filled by
        connections never accepted, so further SYNs are dropped.
        """
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers: List[socket.socket] = []
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.addCleanup(s.close)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        yield deferLater(reactor, 0.2, lambda: None)
        if all(isConnected(s) for s in fillers):
            raise SkipTest("cannot make a loopback blackhole: the kernel completes every handshake")
        return port

    @inlineCallbacks
    def test_opens(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP to TCPSERV and TCPPORT connects, answers only Ok_Info_WaitingForData, and puts the
        line in data mode.
        """
        host, connection = yield self.session()
        self.assertEqual(connection.transport.getPeer().host, "127.0.0.1")
        # Data mode: a command line is data for the peer, answered by no one.
        host.write(b"AT\r")
        self.assertEqual((yield connection.count(3)), b"AT\r")
        connection.write(b"hello")
        self.assertEqual((yield host.count(5)), b"hello")
        self.assertEqual((yield host.quiet()), b"")
        self.assertIsNone(connection.lostReason)

    @inlineCallbacks
    def test_megabyteBothWaysDLE(self) -> Generator[Deferred, Any, None]:
        """
        With DLEMODE 1, a megabyte each way at once arrives byte-exact: decoded for the server,
        DLE-coded for the host.
        """
        host, connection = yield self.session(dlemode=1)
        yield self.exchangeMegabyte(host, connection, dleMode=True)
        self.assertEqual((yield host.quiet()), b"")

    @inlineCallbacks
    def test_megabyteBothWaysTransparent(self) -> Generator[Deferred, Any, None]:
        """
        With DLEMODE 0, a megabyte each way at once passes untouched, ETX bytes included, until the
        server closes.
        """
        host, connection = yield self.session(dlemode=0)
        yield self.exchangeMegabyte(host, connection, dleMode=False)
        connection.transport.loseConnection()
        # No ETX before the result codes in DLEMODE 0.
        self.assertEqual((yield host.until(CLOSED)), CLOSED)

    # -- closing ------------------------------------------------------------

    @inlineCallbacks
    def test_hostCloses(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX from the host delivers the data before it, then closes the connection with a
        FIN, and the host gets Ok_Info_SocketClosed and OK and is in command mode.
        """
        host, connection = yield self.session()
        data = os.urandom(200000) + b"\x10\x03\x10\x10"
        host.write(dle.encode(data) + ETX)
        self.assertSameBytes((yield connection.count(len(data))), data, "at the server")
        self.assertIsInstance((yield connection.closed()), ConnectionDone)
        self.assertEqual(len(connection.received), len(data), "bytes after the data")
        self.assertEqual((yield host.until(CLOSED)), CLOSED)
        self.assertEqual((yield host.command(b"AT")), OK)
        self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)

    @inlineCallbacks
    def test_serverCloses(self) -> Generator[Deferred, Any, None]:
        """
        When the server closes, the host gets its data DLE-coded, then an ETX, then
        Ok_Info_SocketClosed and OK, and is in command mode.
        """
        host, connection = yield self.session()
        yield self.peerClosesAfterData(host, connection)

    # -- failing ------------------------------------------------------------

    @inlineCallbacks
    def test_refused(self) -> Generator[Deferred, Any, None]:
        """
        A refused connection answers ERROR, or #CME ERROR: 38016 after AT+CMEE=1, and leaves the
        line in command mode.
        """
        host = self.startBridge()
        host.write(b"ATE0\r")
        self.assertEqual((yield host.result()), b"ATE0\r" + OK)
        yield self.setTarget(host, "127.0.0.1", self.refusingPort())
        self.assertEqual((yield host.command(b"AT#OTCP")), ERROR)
        self.assertEqual((yield host.command(b"AT+CMEE=1")), OK)
        self.assertEqual((yield host.command(b"AT#OTCP")), cme(38016))
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_unresolvable(self) -> Generator[Deferred, Any, None]:
        """
        A TCPSERV name that does not resolve answers #CME ERROR: 38027.
        """
        host = self.startBridge()
        yield self.hello(host)
        yield self.setTarget(host, "nonexistent.invalid", 23)
        self.assertEqual((yield host.command(b"AT#OTCP", timeout=20)), cme(38027))
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_connectTimeout(self) -> Generator[Deferred, Any, None]:
        """
        A connection that gets no answer fails with #CME ERROR: 38016 after connect_timeout
        seconds.
        """
        port = yield self.blackhole()
        host = self.startBridge(connect_timeout=1.0)
        yield self.hello(host)
        yield self.setTarget(host, "127.0.0.1", port)
        started = reactor.seconds()
        self.assertEqual((yield host.command(b"AT#OTCP")), cme(38016))
        elapsed = reactor.seconds() - started
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3.0)
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_etxCancelsOpening(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX while the connection is still being opened cancels it: the host gets OK and the
        line is in command mode.
        """
        port = yield self.blackhole()
        host = self.startBridge(connect_timeout=20.0)
        yield self.hello(host)
        yield self.setTarget(host, "127.0.0.1", port)
        host.write(b"AT#OTCP\r")
        self.assertEqual((yield host.quiet(0.5)), b"", "answered before the connection was made")
        started = reactor.seconds()
        host.write(ETX)
        self.assertEqual((yield host.result(timeout=5)), OK)
        self.assertLess(reactor.seconds() - started, 2.0)
        self.assertEqual((yield host.command(b"AT")), OK)
        self.assertEqual((yield host.command(b"AT#VSTATE")), b'\r\n#STATE: "IDLE"\r\n' + OK)
        self.assertEqual((yield host.quiet()), b"")

    @inlineCallbacks
    def test_etxWithCommandCancelsOpening(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX that reaches the bridge in the same read as AT#OTCP also cancels the opening.
        """
        port = yield self.blackhole()
        host = self.startBridge(connect_timeout=3.0)
        yield self.hello(host)
        yield self.setTarget(host, "127.0.0.1", port)
        started = reactor.seconds()
        host.write(b"AT#OTCP\r" + ETX)
        self.assertEqual((yield host.result(timeout=6)), OK)
        self.assertLess(reactor.seconds() - started, 2.0, "the ETX waited for the time-out")
        self.assertEqual((yield host.command(b"AT")), OK)


    @inlineCallbacks
    def test_busyWhileListening(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP while listening answers #CME ERROR: 37123, and listening goes on.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = freePort()
        yield self.setTarget(host, "127.0.0.1", port)
        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)
        self.assertEqual((yield host.command(b"AT#OTCP")), cme(37123))
        self.assertEqual((yield host.quiet()), b"")
        peer = yield connectPeer(reactor, port, "127.0.0.1")
        self.addCleanup(peer.close)
        self.assertEqual((yield host.until(WAITING)), WAITING)

    # -- parameters ---------------------------------------------------------

    @inlineCallbacks
    def test_outport(self) -> Generator[Deferred, Any, None]:
        """
        With AT#OUTPORT set, the connection comes from that local port.
        """
        server, port = self.startServer()
        host = self.startBridge()
        yield self.hello(host)
        yield self.setTarget(host, "127.0.0.1", port)
        outport = freePort()
        self.assertEqual((yield host.command(b"AT#OUTPORT=%d" % (outport,))), OK)
        connection = yield self.dial(host, server)
        self.assertEqual(connection.transport.getPeer().port, outport)
        connection.write(b"from the server")
        self.assertEqual((yield host.count(15)), b"from the server")

    @inlineCallbacks
    def test_outportInUse(self) -> Generator[Deferred, Any, None]:
        """
        An AT#OUTPORT that another socket holds cannot be bound: #CME ERROR: 38016, and no
        connection is made.
        """
        server, port = self.startServer()
        host = self.startBridge()
        yield self.hello(host)
        yield self.setTarget(host, "127.0.0.1", port)
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        outport = holder.getsockname()[1]
        self.assertEqual((yield host.command(b"AT#OUTPORT=%d" % (outport,))), OK)
        self.assertEqual((yield host.command(b"AT#OTCP")), cme(38016))
        self.assertEqual(server.accepted, [])
        # The same parameters with any local port work.
        self.assertEqual((yield host.command(b"AT#OUTPORT=0")), OK)
        yield self.dial(host, server)

    @inlineCallbacks
    def test_profileTwo(self) -> Generator[Deferred, Any, None]:
        """
        AT#OTCP=2 dials with profile 2's TCPSERV, TCPPORT and DLEMODE, not profile 1's.
        """
        server, port = self.startServer()
        host = self.startBridge()
        yield self.hello(host)
        # Profile 1 would be refused, and is DLE-coded.
        yield self.setTarget(host, "127.0.0.1", self.refusingPort(), dlemode=1)
        for line in [
            b'AT#TCPSERV=2,"127.0.0.1"',
            b'AT#TCPPORT=2,"%d"' % (port,),
            b"AT#DLEMODE=2,0",
            b"AT#TCPTXDELAY=2,0",
        ]:
            self.assertEqual((yield host.command(line)), OK, line)
        connection = yield self.dial(host, server, b"AT#OTCP=2")
        # DLEMODE 0: both directions transparent.
        connection.write(b"a\x03b\x10c")
        self.assertEqual((yield host.count(5)), b"a\x03b\x10c")
        host.write(b"d\x03e\x10f")
        self.assertEqual((yield connection.count(5)), b"d\x03e\x10f")
        self.assertIsNone(connection.lostReason)
        connection.transport.loseConnection()
        self.assertEqual((yield host.until(CLOSED)), CLOSED)
