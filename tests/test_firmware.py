"""
Integration tests replaying what real host firmware sends: the GPRS
bring-up and listening flow of the Multi-Tech S000333D appendix ("Setting a
TCP Port to a Listening Mode", "TCP Socket"), and a restart of the service
between two power cycles of the host's settings.

The real service runs on a real pty; the peer is a loopback TCP client.
"""

import os
from typing import Any, Generator, List, Tuple

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.trial.unittest import TestCase

from tcpbridge.service import BridgeService
from tests.hostside import OK, BridgeHarness, freePort, openHost


def info(*lines: bytes) -> bytes:
    """
    Information lines as a verbose modem frames them, then OK.
    """
    return b"".join(b"\r\n" + line + b"\r\n" for line in lines) + OK


class FirmwareReplayTests(BridgeHarness, TestCase):
    """
    An unchanged firmware init-and-listen sequence gets every reply it
    expects.
    """

    timeout = 60

    @inlineCallbacks
    def test_initAndListen(self) -> Generator[Deferred, Any, None]:
        """
        ATE0, +CMEE, the GPRS init, AT#VALL, the profile-form set, LTCPSTART=1, a session and both closes answer as specified.
        """
        service, host = self.startBridge(dialect="universal-ip", link="explicit")
        port = freePort()
        # (line sent, exact reply expected); echo is on for the first line.
        script: List[Tuple[bytes, bytes]] = [
            (b"ATE0", b"ATE0\r" + OK),
            (b"AT", OK),
            (b"AT+CMEE=1", OK),
            (b"AT+CPIN?", info(b"+CPIN: READY")),
            (b"AT+CSQ", info(b"+CSQ: 20,0")),
            (b"AT+CREG?", info(b"+CREG: 0,1")),
            (b"AT+WOPEN=1", OK),
            (b'AT+CGDCONT=1,"IP","internet"', OK),
            (b"AT+CGATT=1", OK),
            (b"AT+CGREG?", info(b"+CGREG: 0,1")),
            (b"AT#GPRSMODE=1", OK),
            (b'AT#APNSERV="internet"', OK),
            (b'AT#APNUN="user"', OK),
            (b'AT#APNPW="secret"', OK),
            (b'AT#DNSSERV1="127.0.0.53"', OK),
            # With link = explicit, listening needs the link up first.
            (b"AT#LTCPSTART=1", b"\r\n#CME ERROR: 35867\r\n"),
        ]
        for line, expected in script:
            reply = yield host.command(line)
            self.assertEqual(reply, expected, line)

        host.write(b"AT#CONNECTIONSTART\r")
        reply = yield host.until(b"Ok_Info_GprsActivation\r\n")
        self.assertEqual(reply, b"\r\nOk_Info_GprsActivation\r\n")
        address = yield host.until(b"\r\n", timeout=5)
        address += yield host.until(b"\r\n", timeout=5)
        self.assertEqual(address, b"\r\n127.0.0.1\r\n")

        vall = yield host.command(b"AT#VALL")
        for line in (
            b'#TCPSERV: "255.255.255.255"',
            b"#DLEMODE: 1",
            b'#APNSERV: "internet"',
            b'#APNUN: "user"',
            b'#APNPW: "secret"',
            b'#DNSSERV1: "127.0.0.53"',
            b"#GPRSMODE: 1",
            b'+CGDCONT: 1,"IP","internet"',
            b"+WOPEN: 1",
        ):
            self.assertIn(b"\r\n" + line + b"\r\n", vall)
        self.assertTrue(vall.endswith(OK))

        for line, expected in [
            (b'AT#TCPSERV=1,"255.255.255.255"', OK),
            (b'AT#TCPPORT=1,"%d"' % (port,), OK),
            (b"AT#TCPPORT=1", info(b"#TCPPORT: 1,%d" % (port,))),
            (b"AT#TCPTXDELAY=1,0", OK),
            (b"AT#LTCPSTART=1", OK),
            (b"AT#VSTATE", info(b'#STATE: "IDLE"')),
        ]:
            reply = yield host.command(line)
            self.assertEqual(reply, expected, line)

        # A peer connects: Ok_Info_WaitingForData, data both ways, DLE coded.
        peer = yield self.session(host, port)
        peer.write(b"meter?\x03")
        received = yield host.until(b"meter?\x10\x03")
        self.assertEqual(received, b"meter?\x10\x03")
        host.write(b"reading=42\x10\x03")
        sent = yield peer.count(len(b"reading=42\x03"))
        self.assertEqual(sent, b"reading=42\x03")

        # The host closes with a bare ETX: Ok_Info_SocketClosed then OK.
        host.write(b"\x03")
        reason = yield peer.closed()
        self.assertIsInstance(reason, ConnectionDone)
        closing = yield host.until(b"Ok_Info_SocketClosed\r\n" + OK)
        self.assertEqual(closing, b"\r\nOk_Info_SocketClosed\r\n" + OK)

        # Listen again; this time the remote closes: ETX, then the report.
        reply = yield host.command(b"AT#LTCPSTART=1")
        self.assertEqual(reply, OK)
        peer = yield self.session(host, port)
        peer.write(b"bye")
        peer.transport.loseConnection()
        ending = yield host.until(b"Ok_Info_SocketClosed\r\n" + OK)
        self.assertEqual(ending, b"bye\x03\r\nOk_Info_SocketClosed\r\n" + OK)
        reply = yield host.command(b"AT#CONNECTIONSTOP")
        self.assertEqual(reply, OK)


class RestartTests(BridgeHarness, TestCase):
    """
    With a profile file, what the host set survives a restart of the
    service.
    """

    timeout = 60

    @inlineCallbacks
    def test_valuesSurviveRestart(self) -> Generator[Deferred, Any, None]:
        """
        Values set and saved with AT&W read back the same after the service is stopped and started again.
        """
        profile = os.path.join(os.path.abspath(self.mktemp()))
        config = self.bridgeConfig(profile=profile)
        path = config.device[len("pty:") :]
        from twisted.internet import reactor

        service = BridgeService(config, reactor)
        service.startService()
        host = openHost(path, reactor)
        for line in (b"ATE0", b"AT+CMEE=1", b"AT#TCPPORT=2323", b'AT#TCPSERV="127.0.0.2"',
                     b'AT#TCPPORT=2,"2424"', b'AT#APNSERV="m2m.example"'):
            reply = yield host.command(line)
            self.assertTrue(reply.endswith(OK), line)
        # Numeric result codes from here on: OK is "0" CR.
        host.write(b"ATV0\r")
        reply = yield host.until(b"0\r")
        self.assertEqual(reply, b"0\r")
        host.write(b"AT&W\r")
        reply = yield host.until(b"0\r")
        self.assertEqual(reply, b"0\r")
        yield host.close()
        yield service.stopService()
        self.assertFalse(os.path.lexists(path))

        service = BridgeService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        host = openHost(path, reactor)
        self.addCleanup(host.close)
        # Echo off, numeric results and CMEE=1 were saved by AT&W.
        for line, expected in [
            (b"AT#TCPPORT?", b"#TCPPORT: 2323\r\n0\r"),
            (b"AT#TCPSERV?", b'#TCPSERV: "127.0.0.2"\r\n0\r'),
            (b"AT#TCPPORT=?", b"#TCPPORT: (0-65535)\r\n0\r"),
            (b"AT#APNSERV?", b'#APNSERV: "m2m.example"\r\n0\r'),
            (b"AT#NOSUCH", b"#CME ERROR: 34817\r\n"),
        ]:
            host.write(line + b"\r")
            reply = yield host.until(expected)
            self.assertEqual(reply, expected, line)
        host.write(b"AT#VTCP=2\r")
        reply = yield host.until(b"0\r")
        self.assertIn(b"#TCPPORT: 2424\r\n", reply)
