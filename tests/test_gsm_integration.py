"""
Integration tests replaying real device firmware that waits for what a
modem says unasked: a weather station's modem driver (CR LF line endings,
C{+CGREG: 1} awaited after C{AT+CGATT=1}, C{AT+CNUM} polled until it
answers C{OK}, a TCP session dialled with C{AT#OTCP}), and firmware that
waits for C{+WIND: 4} after C{AT+CFUN=1}.

The real service runs on a real pty; the peer is a loopback TCP server.
"""

from typing import Any, Generator, List, Tuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.trial.unittest import TestCase

from tests.hostside import CLOSED, ETX, OK, BridgeHarness, listenPeer


def echoed(line: bytes, *answer: bytes) -> bytes:
    """
    What a host with echo on reads after sending C{line} CR LF: the line
    and its CR echoed (the LF is not), then each answer line framed.
    """
    return line + b"\r" + b"".join(b"\r\n" + a + b"\r\n" for a in answer)


class WeatherStationTests(BridgeHarness, TestCase):
    """
    The weather station's modem driver, unchanged, gets every answer it
    waits for and its TCP session carries exactly its three lines.
    """

    timeout = 60

    @inlineCallbacks
    def send(self, host: Any, line: bytes, *answer: bytes) -> Generator[Deferred, Any, None]:
        """
        Send C{line} with CR LF, as the firmware does; the reply must be
        exactly its echo and C{answer} (the final result included).
        """
        host.write(line + b"\r\n")
        expected = echoed(line, *answer)
        reply = yield host.count(len(expected))
        self.assertEqual(reply, expected, line)

    @inlineCallbacks
    def test_fullSequence(self) -> Generator[Deferred, Any, None]:
        """
        The firmware's whole sequence, from AT+CREG=1 to AT+CGATT=0, gets the answers and the
        unsolicited +CGREG codes it waits for, and the peer receives exactly the three data lines.
        """
        server, listening = listenPeer(reactor, name="weather server")
        self.addCleanup(listening.stopListening)
        port = listening.getHost().port
        service, host = self.startBridge()
        script: List[Tuple[bytes, Tuple[bytes, ...]]] = [
            (b"AT+CREG=1", (b"OK",)),
            (b"AT+CGREG=1", (b"OK",)),
            (b"AT", (b"OK",)),
            (b"AT+CSQ", (b"+CSQ: 20,0", b"OK")),
            (b"AT+CPIN=8189", (b"OK",)),
            (b"AT+CREG?", (b"+CREG: 1,1", b"OK")),
            (b"AT+WOPEN=1", (b"OK",)),
            (b"AT#GPRSMODE=1", (b"OK",)),
            (b'AT#APNSERV="internet"', (b"OK",)),
            (b'AT#APNUN=""', (b"OK",)),
            (b'AT#APNPW=""', (b"OK",)),
            (b'AT#TCPSERV="localhost"', (b"OK",)),
            (b"AT#TCPPORT=%d" % (port,), (b"OK",)),
            (b"AT#TCPTXDELAY=100", (b"OK",)),
            (b"AT#DLEMODE=1", (b"OK",)),
            # The unsolicited code comes after the OK, never before it.
            (b"AT+CGATT=1", (b"OK", b"+CGREG: 1")),
            (b"AT+CNUM=?", (b"OK",)),
            (b"AT+CNUM", (b"OK",)),
        ]
        for line, answer in script:
            yield self.send(host, line, *answer)
        yield self.send(host, b"AT#CONNECTIONSTART", b"Ok_Info_GprsActivation", b"127.0.0.1")

        host.write(b"AT#OTCP\r\n")
        waiting = b"AT#OTCP\r\r\nOk_Info_WaitingForData\r\n"
        self.assertEqual((yield host.count(len(waiting))), waiting)
        peer = yield server.connection()
        lines = [b"T=21.5;H=40\r\n", b"P=1013\r\n", b"W=3.2;D=270\r\n"]
        for data in lines:
            host.write(data)
        host.write(ETX)
        reason = yield peer.closed()
        self.assertIsInstance(reason, ConnectionDone)
        self.assertEqual(bytes(peer.received), b"".join(lines))
        self.assertEqual((yield host.until(CLOSED)), CLOSED)

        yield self.send(host, b"AT#CONNECTIONSTOP", b"OK")
        yield self.send(host, b"AT+CGATT=0", b"OK", b"+CGREG: 0")
        self.assertEqual((yield host.quiet()), b"", "nothing more")


class RestartTests(BridgeHarness, TestCase):
    """
    The start-up indications, at service start and after C{AT+CFUN=1}.
    """

    timeout = 60

    @inlineCallbacks
    def test_windAfterCfun(self) -> Generator[Deferred, Any, None]:
        """
        After AT+WIND=8 (ready for every command) and AT+CFUN=1, the host reads OK then +WIND: 4;
        the mask and AT+CREG=1 saved in the profile give +WIND: 4 and +CREG: 1 at the next start.
        """
        import os

        profile = os.path.abspath(self.mktemp())
        service, host = self.startBridge(profile=profile)
        yield self.hello(host)
        for line in (b"AT+WIND=8", b"AT+CREG=1"):
            self.assertEqual((yield host.command(line)), OK, line)
        host.write(b"AT+CFUN=1\r\n")
        expected = OK + b"\r\n+WIND: 4\r\n\r\n+CREG: 1\r\n"
        self.assertEqual((yield host.count(len(expected))), expected)
        self.assertEqual((yield host.quiet()), b"")

        yield service.stopService()
        yield host.close()
        service, host = self.startBridge(profile=profile)
        expected = b"\r\n+WIND: 4\r\n\r\n+CREG: 1\r\n"
        self.assertEqual((yield host.count(len(expected))), expected)
