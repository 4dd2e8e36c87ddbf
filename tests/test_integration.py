"""
Integration tests on the real reactor: the real L{BridgeService} on a
C{pty:} device, the test playing the host on the pty link and the peers as
loopback TCP clients.

Peers connect from several addresses of 127.0.0.0/8 so that the C{TCPSERV}
filter can be seen at work.  Every port is picked free by the test and set
with C{AT#TCPPORT}, as the host does in this protocol.
"""

import ipaddress
import os
import socket
from typing import Any, Generator

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.internet.task import LoopingCall, deferLater
from twisted.trial.unittest import TestCase

from tcpbridge import dle
from tcpbridge.config import BridgeConfig
from tcpbridge.serial import PTY_PREFIX
from tcpbridge.service import BridgeService, makeBridges
from tests.hostside import (
    CLOSED,
    ERROR,
    ETX,
    OK,
    WAITING,
    BULK_WAIT,
    MEGABYTE,
    Receiver,
    SameBytesMixin,
    connectionOutcome,
    connectPeer,
    freePort,
    openHost,
)



class ListeningSessionTests(SameBytesMixin, TestCase):
    """
    A host listening with C{AT#LTCPSTART}, peers connecting, data flowing
    and sessions closing, all through the real service.
    """

    timeout = 60

    # -- the pieces -------------------------------------------------------

    def bridgeConfig(self, name: str = "test", **kwargs: Any) -> BridgeConfig:
        """
        A bridge on a fresh virtual serial port in this test's directory.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        # Listen on loopback only: nothing is exposed to the network, and a
        # peer's port in TIME_WAIT on 127.0.0.2 (no SO_REUSEADDR) cannot make
        # a port that freePort() found free on 127.0.0.1 fail to bind, as it
        # does for 0.0.0.0.
        kwargs.setdefault("interface", "127.0.0.1")
        device = PTY_PREFIX + os.path.join(directory, "host")
        return BridgeConfig(name=name, device=device, **kwargs)

    def openHost(self, config: BridgeConfig, name: str = "host") -> Receiver:
        """
        Open the host's end of C{config}'s pty, closed again at clean-up.
        """
        host = openHost(config.device[len(PTY_PREFIX) :], reactor, name)
        self.addCleanup(host.close)
        return host

    def startBridge(self, **kwargs: Any) -> Receiver:
        """
        Start one bridge (stopped at clean-up) and open its host end.
        """
        config = self.bridgeConfig(**kwargs)
        service = BridgeService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        path = config.device[len(PTY_PREFIX) :]
        self.assertTrue(os.path.exists(path), "the bridge did not make its pty link")
        return self.openHost(config)

    @inlineCallbacks
    def connect(self, port: int, source: str) -> Generator[Deferred, Any, Receiver]:
        """
        A peer connected from C{source}, aborted at clean-up.
        """
        peer = yield connectPeer(reactor, port, source)
        self.addCleanup(peer.close)
        return peer

    @inlineCallbacks
    def hello(self, host: Receiver) -> Generator[Deferred, Any, None]:
        """
        Turn echo off, as host firmware does first.
        """
        host.write(b"ATE0\r")
        self.assertEqual((yield host.result()), b"ATE0\r" + OK)

    @inlineCallbacks
    def listen(
        self, host: Receiver, tcpserv: str = "255.255.255.255", dlemode: int = 1
    ) -> Generator[Deferred, Any, int]:
        """
        Set the parameters and start listening on a free port; return it.
        """
        port = freePort()
        for line in [
            b'AT#TCPSERV="%s"' % (tcpserv.encode("ascii"),),
            b"AT#TCPPORT=%d" % (port,),
            b"AT#DLEMODE=%d" % (dlemode,),
            b"AT#LTCPSTART",
        ]:
            self.assertEqual((yield host.command(line)), OK, line)
        return port

    @inlineCallbacks
    def session(
        self, host: Receiver, port: int, source: str = "127.0.0.2"
    ) -> Generator[Deferred, Any, Receiver]:
        """
        Connect an admitted peer; the host must be told the session opened.
        """
        peer = yield self.connect(port, source)
        self.assertEqual((yield host.until(WAITING)), WAITING)
        return peer

    @inlineCallbacks
    def test_wholeFlow(self) -> Generator[Deferred, Any, None]:
        """
        A listening host refuses a peer TCPSERV does not name without a trace, admits the one it
        names, and then refuses any other.
        """
        host = self.startBridge()
        host.write(b"AT\r")
        self.assertEqual((yield host.result()), b"AT\r" + OK)
        yield self.hello(host)
        port = freePort()
        self.assertEqual((yield host.command(b'AT#TCPSERV="127.0.0.2"')), OK)
        self.assertEqual((yield host.command(b"AT#TCPPORT=%d" % (port,))), OK)
        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)

        # Bound before the OK: a connection made right now reaches the socket
        # (it would fail with ConnectionRefusedError otherwise).
        stranger = yield self.connect(port, "127.0.0.3")
        stranger.write(b"let me in")
        yield stranger.closed()
        self.assertEqual(bytes(stranger.received), b"", "the refused peer was written to")
        self.assertEqual((yield host.quiet()), b"", "the host was shown a refused peer")

        peer = yield self.session(host, port, "127.0.0.2")
        outcome = yield connectionOutcome(reactor, port, "127.0.0.2")
        self.assertIn(outcome, ("refused", "dropped"))
        self.assertEqual((yield host.quiet()), b"", "the host was shown a second peer")
        # Not merely turned away: the listening socket is closed.
        self.assertEqual((yield connectionOutcome(reactor, port, "127.0.0.2")), "refused")

        # The admitted session is still there and carries data.
        peer.write(b"hello")
        self.assertEqual((yield host.count(5)), b"hello")
        self.assertIsNone(peer.lostReason)

    @inlineCallbacks
    def test_megabyteBothWaysDLE(self) -> Generator[Deferred, Any, None]:
        """
        With DLEMODE 1, a megabyte each way at once arrives byte-exact: decoded for the peer, DLE-
        coded for the host.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host, dlemode=1)
        peer = yield self.session(host, port)
        yield self.exchangeMegabyte(host, peer, dleMode=True)
        peer.transport.loseConnection()
        self.assertEqual((yield host.until(CLOSED)), ETX + CLOSED)

    @inlineCallbacks
    def test_megabyteBothWaysTransparent(self) -> Generator[Deferred, Any, None]:
        """
        With DLEMODE 0, a megabyte each way at once passes untouched, ETX bytes included, until the
        peer closes.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host, dlemode=0)
        peer = yield self.session(host, port)
        yield self.exchangeMegabyte(host, peer, dleMode=False)

        peer.transport.loseConnection()
        # No ETX before the result codes in DLEMODE 0.
        self.assertEqual((yield host.until(CLOSED)), CLOSED)

    @inlineCallbacks
    def test_allowList(self) -> Generator[Deferred, Any, None]:
        """
        The operator's allow list refuses a peer that TCPSERV 255.255.255.255 would admit, without a trace.
        """
        host = self.startBridge(allow=[ipaddress.ip_network("127.0.0.2/32")])
        yield self.hello(host)
        port = yield self.listen(host, tcpserv="255.255.255.255")
        self.assertEqual((yield connectionOutcome(reactor, port, "127.0.0.3")), "dropped")
        self.assertEqual((yield host.quiet()), b"")
        yield self.session(host, port, "127.0.0.2")

    @inlineCallbacks
    def test_txDelayGathers(self) -> Generator[Deferred, Any, None]:
        """
        Host bytes wait TCPTXDELAY milliseconds for company before they leave, unless they fill a segment.
        """
        host = self.startBridge()
        yield self.hello(host)
        self.assertEqual((yield host.command(b"AT#TCPTXDELAY=1000")), OK)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        started = reactor.seconds()
        host.write(b"few bytes")
        self.assertEqual((yield peer.quiet(0.4)), b"", "sent before TCPTXDELAY")
        self.assertEqual((yield peer.count(9)), b"few bytes")
        self.assertGreaterEqual(reactor.seconds() - started, 0.9)

        # Two full segments (1460 bytes each) leave at once.
        started = reactor.seconds()
        host.write(b"s" * 2920)
        self.assertEqual((yield peer.count(2920, timeout=0.8)), b"s" * 2920)
        self.assertLess(reactor.seconds() - started, 0.8)

    @inlineCallbacks
    def test_escapeSplitAcrossReads(self) -> Generator[Deferred, Any, None]:
        """
        A DLE that ends one serial read escapes the byte that starts the next, so a DLE ETX split in
        two carries an ETX and does not close.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        for piece in [b"a\x10", b"\x03b\x10", b"\x10c\x10", b"xd"]:
            host.write(piece)
            # Let the service read each piece on its own.
            yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual((yield peer.count(8)), b"a\x03b\x10c\x10xd")
        self.assertIsNone(peer.lostReason, "a split DLE ETX closed the session")
        self.assertEqual((yield host.quiet(0.1)), b"")

    @inlineCallbacks
    def test_noEchoInDataMode(self) -> Generator[Deferred, Any, None]:
        """
        With echo on, command lines are echoed but nothing the host sends in data mode is.
        """
        host = self.startBridge()
        port = freePort()
        host.write(b"AT#TCPPORT=%d\r" % (port,))
        self.assertEqual((yield host.result()), b"AT#TCPPORT=%d\r" % (port,) + OK)
        host.write(b"AT#LTCPSTART\r")
        self.assertEqual((yield host.result()), b"AT#LTCPSTART\r" + OK)
        peer = yield self.session(host, port)
        host.write(b"not an echo")
        self.assertEqual((yield peer.count(11)), b"not an echo")
        self.assertEqual((yield host.quiet()), b"")

    @inlineCallbacks
    def test_hostCloses(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX from the host delivers the data before it, closes the connection with a FIN, and
        returns the host to command mode.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        data = os.urandom(200000)
        host.write(dle.encode(data) + ETX)
        self.assertSameBytes((yield peer.count(len(data))), data, "at the peer")
        reason = yield peer.closed()
        self.assertIsInstance(reason, ConnectionDone)
        self.assertEqual(len(peer.received), len(data), "bytes after the data")
        self.assertEqual((yield host.until(CLOSED)), CLOSED)
        self.assertEqual((yield host.command(b"AT")), OK)
        self.assertEqual((yield connectionOutcome(reactor, port, "127.0.0.2")), "refused")

    @inlineCallbacks
    def test_hostClosesWhilePeerSends(self) -> Generator[Deferred, Any, None]:
        """
        A host close while the peer is still sending and slow to read delivers every host byte before the FIN, never a reset.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        # Neither the host nor the peer reads for a while, and the peer
        # sends more than the serial side can hold: the bridge stops reading
        # it, so unread peer bytes sit in its socket when the host closes.
        host.transport.pauseProducing()
        peer.transport.pauseProducing()
        peer.write(b"x" * (2 * MEGABYTE))
        data = os.urandom(4 * MEGABYTE)
        host.write(dle.encode(data) + ETX)
        yield deferLater(reactor, 1.0, lambda: None)

        def sip() -> None:
            # A slow reader: one read every 10 ms, so the bridge's last
            # bytes and its close reach the peer's socket long before the
            # peer has read them.
            peer.transport.resumeProducing()
            reactor.callLater(0, peer.transport.pauseProducing)

        slow = LoopingCall(sip)
        slow.start(0.01)
        self.addCleanup(lambda: slow.stop() if slow.running else None)
        received = yield peer.count(len(data), BULK_WAIT)
        slow.stop()
        # After the last sip's pause has run, read normally again.
        yield deferLater(reactor, 0.05, peer.transport.resumeProducing)
        self.assertSameBytes(received, data, "at the peer")
        host.transport.resumeProducing()
        reason = yield peer.closed()
        self.assertIsInstance(reason, ConnectionDone)
        closing = yield host.until(CLOSED)
        self.assertTrue(closing.endswith(CLOSED))
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_bytesAfterHostCloseAreCommands(self) -> Generator[Deferred, Any, None]:
        """
        Bytes that follow the host's closing ETX in the same write are command-mode input, answered
        after the close is reported.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        host.write(b"last words" + ETX + b"AT#VSTATE\r")
        self.assertEqual((yield peer.count(10)), b"last words")
        yield peer.closed()
        self.assertEqual((yield host.result()), CLOSED)
        self.assertEqual((yield host.result()), b'\r\n#STATE: "IDLE"\r\n' + OK)

    @inlineCallbacks
    def test_peerCloses(self) -> Generator[Deferred, Any, None]:
        """
        When the peer closes, the host gets its data DLE-coded, then an ETX, then
        Ok_Info_SocketClosed and OK, in that order.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        yield self.peerClosesAfterData(host, peer)

    @inlineCallbacks
    def test_listeningEndsWithSession(self) -> Generator[Deferred, Any, None]:
        """
        Once a session has ended the port is closed until the host sends AT#LTCPSTART again, which
        opens it again.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port, "127.0.0.2")
        peer.transport.loseConnection()
        self.assertEqual((yield host.until(CLOSED)), ETX + CLOSED)
        self.assertEqual((yield connectionOutcome(reactor, port, "127.0.0.4")), "refused")
        self.assertEqual((yield host.quiet()), b"")

        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)
        again = yield self.session(host, port, "127.0.0.5")
        again.write(b"again")
        self.assertEqual((yield host.count(5)), b"again")

    @inlineCallbacks
    def test_ltcpstop(self) -> Generator[Deferred, Any, None]:
        """
        AT#LTCPSTOP while listening answers OK with the port already closed.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host)
        self.assertEqual((yield host.command(b"AT#LTCPSTOP")), OK)
        self.assertEqual((yield connectionOutcome(reactor, port, "127.0.0.2")), "refused")
        self.assertEqual((yield host.quiet()), b"")
        # Idle again: listening may start anew.
        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)

    @inlineCallbacks
    def test_bareETXStopsListening(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX in command mode while listening closes the listening socket, as AT#LTCPSTOP does.
        """
        host = self.startBridge()
        yield self.hello(host)
        port = yield self.listen(host, tcpserv="127.0.0.2")
        host.write(ETX)
        # The ETX has been handled once a command sent after it is answered.
        response = yield host.command(b"AT")
        self.assertIn(response, (OK, OK + OK))
        self.assertEqual((yield connectionOutcome(reactor, port, "127.0.0.2")), "refused")
        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)

    @inlineCallbacks
    def test_bindFailure(self) -> Generator[Deferred, Any, None]:
        """
        AT#LTCPSTART on a port another socket holds answers ERROR, or #CME ERROR: 38016 after
        AT+CMEE=1, and leaves the bridge idle.
        """
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(blocker.close)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        host = self.startBridge()
        yield self.hello(host)
        self.assertEqual((yield host.command(b"AT#TCPPORT=%d" % (port,))), OK)
        self.assertEqual((yield host.command(b"AT#LTCPSTART")), ERROR)
        self.assertEqual((yield host.command(b"AT+CMEE=1")), OK)
        self.assertEqual((yield host.command(b"AT#LTCPSTART")), b"\r\n#CME ERROR: 38016\r\n")
        blocker.close()
        self.assertEqual((yield host.command(b"AT#LTCPSTART")), OK)
        yield self.session(host, port)

    @inlineCallbacks
    def test_stopServiceEndsSession(self) -> Generator[Deferred, Any, None]:
        """
        Stopping the service closes the session's connection and the serial line, and removes the
        pty link.
        """
        config = self.bridgeConfig()
        service = BridgeService(config, reactor)
        service.startService()
        self.addCleanup(lambda: service.stopService() if service.running else None)
        host = self.openHost(config)
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        peer.write(b"ping")
        self.assertEqual((yield host.count(4)), b"ping")
        stopped = service.stopService()
        self.assertIsInstance((yield peer.closed()), ConnectionDone)
        yield stopped
        link = config.device[len(PTY_PREFIX) :]
        self.assertFalse(os.path.lexists(link), "the pty link is left behind")
        # The master is closed: the host's end reports the line gone.
        yield host.closed()

    @inlineCallbacks
    def test_twoBridges(self) -> Generator[Deferred, Any, None]:
        """
        Two bridges in one MultiService each carry their own session, and one closing leaves the
        other running.
        """
        one = self.bridgeConfig(name="one")
        two = self.bridgeConfig(name="two")
        top = makeBridges([one, two], reactor)
        top.startService()
        self.addCleanup(top.stopService)
        for config in (one, two):
            path = config.device[len(PTY_PREFIX) :]
            self.assertTrue(os.path.exists(path), "bridge %s made no pty link" % (config.name,))
        self.assertEqual(sorted(s.name for s in top), ["one", "two"])
        hostOne = self.openHost(one, "host one")
        hostTwo = self.openHost(two, "host two")
        yield self.hello(hostOne)
        yield self.hello(hostTwo)
        portOne = yield self.listen(hostOne, tcpserv="127.0.0.2")
        portTwo = yield self.listen(hostTwo, tcpserv="127.0.0.3")

        # Each filter is its own: bridge two refuses bridge one's peer.
        self.assertEqual((yield connectionOutcome(reactor, portTwo, "127.0.0.2")), "dropped")
        peerOne = yield self.session(hostOne, portOne, "127.0.0.2")
        self.assertEqual((yield hostTwo.quiet()), b"")
        peerTwo = yield self.session(hostTwo, portTwo, "127.0.0.3")

        peerOne.write(b"to one")
        peerTwo.write(b"to two")
        hostOne.write(b"from one")
        hostTwo.write(b"from two")
        self.assertEqual((yield hostOne.count(6)), b"to one")
        self.assertEqual((yield hostTwo.count(6)), b"to two")
        self.assertEqual((yield peerOne.count(8)), b"from one")
        self.assertEqual((yield peerTwo.count(8)), b"from two")

        hostOne.write(ETX)
        self.assertEqual((yield hostOne.until(CLOSED)), CLOSED)
        yield peerOne.closed()
        peerTwo.write(b"still here")
        self.assertEqual((yield hostTwo.count(10)), b"still here")
        hostTwo.write(b"me too")
        self.assertEqual((yield peerTwo.count(6)), b"me too")
        self.assertIsNone(peerTwo.lostReason)
        self.assertEqual((yield hostOne.quiet()), b"")


class IPv6Tests(TestCase):
    """
    The listening socket can be bound to an IPv6 address, and the operator's
    allow list takes IPv6 networks.
    """

    timeout = 60

    @inlineCallbacks
    def test_listenOnIPv6(self) -> Generator[Deferred, Any, None]:
        """
        With interface ::1 a peer connecting over IPv6 from an allowed network gets the session; one outside the allow list is refused unseen.
        """
        import ipaddress

        from twisted.internet.endpoints import TCP6ClientEndpoint
        from twisted.internet.protocol import Factory

        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "host")
        config = BridgeConfig(
            name="six", device=PTY_PREFIX + path, interface="::1",
            allow=[ipaddress.ip_network("::1/128")],
        )
        service = BridgeService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        host = openHost(path, reactor)
        self.addCleanup(host.close)
        self.assertTrue((yield host.command(b"ATE0")).endswith(OK))
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
        for line in (b"AT#TCPPORT=%d" % (port,), b"AT#TCPTXDELAY=0", b"AT#LTCPSTART"):
            self.assertEqual((yield host.command(line)), OK, line)
        peer = yield TCP6ClientEndpoint(reactor, "::1", port).connect(
            Factory.forProtocol(lambda: Receiver(reactor, "peer6"))
        )
        self.addCleanup(peer.close)
        self.assertEqual((yield host.until(WAITING)), WAITING)
        peer.write(b"over six")
        self.assertEqual((yield host.count(8)), b"over six")
        host.write(b"back")
        self.assertEqual((yield peer.count(4)), b"back")

    def test_allowListRefusesIPv6(self) -> None:
        """
        The allow list refuses an IPv6 peer outside its networks and admits IPv4-mapped addresses by their IPv4 form.
        """
        import ipaddress

        from tcpbridge.listener import AdmissionFilter

        only = AdmissionFilter("255.255.255.255", [ipaddress.ip_network("2001:db8::/32"),
                                                   ipaddress.ip_network("127.0.0.0/8")])
        self.assertIsNone(only.refusal("2001:db8::7"))
        self.assertIsNotNone(only.refusal("::1"))
        self.assertIsNone(only.refusal("::ffff:127.0.0.9"))
