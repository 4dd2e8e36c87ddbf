"""
TCP keepalive on sessions: the socket options set, on real sockets, for a
listening session and a dialled one.
"""

import os
import shutil
import socket
import sys
from typing import Any, Generator, Tuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from tcpbridge.keepalive import PROBES, enableKeepalive, keepaliveTimes, socketOf
from tests.hostside import CLOSED, ETX, OK, WAITING, BridgeHarness, listenPeer


def options(sock: socket.socket) -> Tuple[int, int, int, int]:
    """
    SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT of C{sock}.
    """
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    )


class _Handle:
    def __init__(self, handle: Any, transport: Any = None) -> None:
        self.handle = handle
        self.transport = transport

    def getHandle(self) -> Any:
        return self.handle


class KeepaliveOptionTests(SynchronousTestCase):
    """
    The options C{keepalive = SECONDS} sets.
    """

    def socket(self) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        return s

    def test_times(self) -> None:
        """
        The first probe after SECONDS, then the probes over about SECONDS more.
        """
        for seconds in (1, 2, 10, 60, 7200, 32767):
            idle, interval, count = keepaliveTimes(seconds)
            self.assertEqual((idle, count), (seconds, PROBES))
            self.assertGreaterEqual(interval, 1)
            self.assertLessEqual(abs(interval * count - seconds), PROBES)

    def test_options(self) -> None:
        """
        SO_KEEPALIVE and the three TCP options are set on the socket.
        """
        s = self.socket()
        self.assertTrue(enableKeepalive(_Handle(s), 60))
        self.assertEqual(options(s), (1, 60, 20, 3))

    def test_wrapped(self) -> None:
        """
        Under TLS the socket is that of the transport the TLS layer wraps.
        """
        s = self.socket()
        tls = _Handle(object(), transport=_Handle(s))
        self.assertIs(socketOf(tls), s)
        self.assertTrue(enableKeepalive(tls, 30))
        self.assertEqual(options(s)[0], 1)

    def test_off(self) -> None:
        """
        Without the key, or on a transport with no socket, nothing is set.
        """
        s = self.socket()
        self.assertFalse(enableKeepalive(_Handle(s), None))
        self.assertEqual(options(s)[0], 0)
        self.assertFalse(enableKeepalive(_Handle(None), 30))
        self.assertFalse(enableKeepalive(object(), 30))


class KeepaliveSessionTests(BridgeHarness, TestCase):
    """
    The sockets of real sessions.
    """

    timeout = 30

    @inlineCallbacks
    def test_listening(self) -> Generator[Deferred, Any, None]:
        """
        A session admitted while listening has keepalive on, with the bridge's times.
        """
        service, host = self.startBridge(keepalive=9)
        yield self.hello(host)
        port = yield self.listen(host)
        yield self.session(host, port)
        self.assertEqual(options(socketOf(service.modem.session.peer)), (1, 9, 3, 3))

    @inlineCallbacks
    def test_dialled(self) -> Generator[Deferred, Any, None]:
        """
        A session opened with AT#OTCP has keepalive on too; a bridge without the key leaves it off.
        """
        server, port = listenPeer(reactor)
        self.addCleanup(port.stopListening)
        for keepalive, expected in ((5, (1, 5, 2, 3)), (None, None)):
            service, host = self.startBridge(name="k%s" % (keepalive,), keepalive=keepalive)
            yield self.hello(host)
            for line in (b'AT#TCPSERV="127.0.0.1"', b"AT#TCPPORT=%d" % (port.getHost().port,)):
                self.assertEqual((yield host.command(line)), OK)
            host.write(b"AT#OTCP\r")
            self.assertEqual((yield host.until(WAITING)), WAITING)
            yield server.connection()
            sock = socketOf(service.modem.session.peer)
            if expected is None:
                self.assertEqual(options(sock)[0], 0)
            else:
                self.assertEqual(options(sock), expected)


#: Set in the environment of the test run inside its own network namespace.
IN_NAMESPACE = "TCPBRIDGE_TEST_IN_NETNS"


class VanishedPeerTests(BridgeHarness, TestCase):
    """
    A peer that vanishes without a FIN or a reset is found by keepalive,
    and the host told as for a peer close.

    The loopback interface of a network namespace made for the test is
    taken down in mid-session: from then on no packet goes either way, as
    when a peer's power is cut.  The test runs itself again, under
    C{unshare -n}, so that no other loopback traffic is touched; the
    namespace goes with that process.
    """

    timeout = 60

    def test_vanishedPeer(self) -> Any:
        """
        With keepalive = 1, a session whose peer stops answering ends within seconds: the host gets
        ETX, Ok_Info_SocketClosed and OK.
        """
        if os.environ.get(IN_NAMESPACE):
            return self._inNamespace()
        if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
            raise SkipTest("needs root, unshare and ip to make a network namespace")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, **{IN_NAMESPACE: "1"})
        name = "%s.%s.%s" % (__name__, type(self).__name__, self._testMethodName)
        temp = os.path.abspath(self.mktemp())
        d = getProcessOutputAndValue(
            shutil.which("unshare") or "unshare",
            ["-n", sys.executable, "-m", "twisted.trial", "--temp-directory", temp, name],
            env=env, path=root,
        )

        def ran(result: Tuple[bytes, bytes, int]) -> None:
            out, err, code = result
            self.assertEqual(code, 0, (out + err).decode("utf-8", "replace"))
            self.assertIn(b"PASSED (successes=1)", out)

        return d.addCallback(ran)

    @inlineCallbacks
    def _inNamespace(self) -> Generator[Deferred, Any, None]:
        yield getProcessOutputAndValue("ip", ["link", "set", "lo", "up"], env=os.environ)
        service, host = self.startBridge(keepalive=1)
        yield self.hello(host)
        port = yield self.listen(host)
        peer = yield self.session(host, port)
        peer.write(b"hello")
        self.assertEqual((yield host.count(5)), b"hello")
        out, err, code = yield getProcessOutputAndValue("ip", ["link", "set", "lo", "down"], env=os.environ)
        self.assertEqual(code, 0, err)
        ended = ETX + CLOSED
        self.assertEqual((yield host.until(ended, timeout=20)), ended)
