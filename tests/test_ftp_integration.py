"""
Integration tests of C{AT#FTPGET} and C{AT#FTPPUT}: the real service on a
real pty, against a real FTP server (Twisted's own) on loopback started by
each test.
"""

import hashlib
import os
from typing import Any, Generator

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

from tcpbridge import dle
from tests.ftpserver import PASSWORD, USER, FTPServer, listenMute
from tests.hostside import (
    BULK_WAIT,
    ETX,
    OK,
    WAITING,
    BridgeHarness,
    Receiver,
    SameBytesMixin,
    freePort,
)

DATA_BEGIN = b"\r\nOk_Info_DataBegin\r\n"

#: Bytes of the big file moved each way.
BIG = 10 * (1 << 20)


def cme(code: int) -> bytes:
    return b"\r\n#CME ERROR: %d\r\n" % (code,)


def rss() -> int:
    """
    This process's resident memory, in bytes (the bridge runs in it).
    """
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def escapeRich(size: int) -> bytes:
    """
    Random bytes of which about one in eight is an ETX or a DLE.
    """
    table = bytes(3 if b < 16 else 0x10 if b >= 240 else b for b in range(256))
    return os.urandom(size).translate(table)


class FTPTests(SameBytesMixin, BridgeHarness, TestCase):
    """
    Transfers through the bridge against Twisted's FTP server.
    """

    timeout = 90

    def startServer(self, **kwargs: Any) -> FTPServer:
        server = FTPServer(reactor, FilePath(self.mktemp()), **kwargs)
        self.addCleanup(server.stop)
        return server

    @inlineCallbacks
    def ready(
        self, port: int, user: str = USER, password: str = PASSWORD, **config: Any
    ) -> Generator[Deferred, Any, Receiver]:
        """
        A bridge whose host has set the FTP server, user and password, with
        CME errors on.
        """
        self.service, host = self.startBridge(**config)
        yield self.hello(host)
        yield self.setting(host, b"AT+CMEE=1")
        yield self.setting(host, b'AT#FTPSERV="127.0.0.1"')
        yield self.setting(host, b"AT#FTPPORT=%d" % (port,))
        yield self.setting(host, b'AT#FTPUN="%s"' % (user.encode(),))
        yield self.setting(host, b'AT#FTPPW="%s"' % (password.encode(),))
        return host

    def setting(self, host: Receiver, line: bytes) -> "Deferred[bytes]":
        return self.expect(host.command(line), OK, repr(line))

    @inlineCallbacks
    def get(self, host: Receiver, size: int) -> Generator[Deferred, Any, bytes]:
        """
        C{AT#FTPGET} of a file of C{size} bytes: the host must get
        C{Ok_Info_DataBegin}, the file DLE-coded, a bare ETX and C{OK};
        return the file as decoded.
        """
        host.write(b"AT#FTPGET\r")
        yield self.expect(host.until(DATA_BEGIN), DATA_BEGIN, "data begins")
        received = bytearray()
        decoder = dle.Decoder()
        rest = None
        while rest is None:
            chunk = yield host.count(min(len(host.pending) or 1, 1 << 20), BULK_WAIT)
            payload, rest = decoder.feed(chunk)
            received += payload
        self.assertEqual(rest + (yield host.count(len(OK) - len(rest))), OK)
        self.assertEqual(len(received), size)
        return bytes(received)

    @inlineCallbacks
    def put(self, host: Receiver, data: bytes) -> Generator[Deferred, Any, None]:
        """
        C{AT#FTPPUT} of C{data}: C{Ok_Info_WaitingForData}, the file
        DLE-coded and a bare ETX, then C{OK}.
        """
        host.write(b"AT#FTPPUT\r")
        yield self.expect(host.until(WAITING), WAITING, "waiting for data")
        host.write(dle.encode(data) + ETX)
        yield self.expect(host.result(BULK_WAIT), OK, "FTPPUT confirmed")

    # -- downloads -------------------------------------------------------------

    @inlineCallbacks
    def test_getBig(self) -> Generator[Deferred, Any, None]:
        """
        A 10 MB binary file full of ETX and DLE bytes reaches the host
        byte-exact, DLE-coded, then a bare ETX and OK.
        """
        server = self.startServer()
        data = escapeRich(BIG)
        server.home.child("big.bin").setContent(data)
        host = yield self.ready(server.port)
        yield self.setting(host, b'AT#FTPGETFILENAME="big.bin"')
        received = yield self.get(host, len(data))
        self.assertSameBytes(received, data, "the file at the host")
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_getASCIIFromSubdirectory(self) -> Generator[Deferred, Any, None]:
        """
        An ASCII transfer of a file in a sub-directory, logged in
        anonymously: the host gets the server's network form (CR LF line
        ends).
        """
        server = self.startServer()
        server.anonymous.child("etc").makedirs()
        server.anonymous.child("etc").child("config.txt").setContent(b"rate=10\nmode=2\n")
        host = yield self.ready(server.port, user="", password="")
        yield self.setting(host, b'AT#FTPGETPATH="etc"')
        yield self.setting(host, b'AT#FTPGETFILENAME="config.txt"')
        yield self.setting(host, b"AT#FTPTYPE=A")
        received = yield self.get(host, 17)
        self.assertEqual(received, b"rate=10\r\nmode=2\r\n")

    @inlineCallbacks
    def test_getEmpty(self) -> Generator[Deferred, Any, None]:
        """
        An empty file: C{Ok_Info_DataBegin}, the bare ETX, C{OK}.
        """
        server = self.startServer()
        server.home.child("empty").setContent(b"")
        host = yield self.ready(server.port)
        yield self.setting(host, b'AT#FTPGETFILENAME="empty"')
        self.assertEqual((yield self.get(host, 0)), b"")

    # -- uploads --------------------------------------------------------------------

    @inlineCallbacks
    def test_putPassiveAndActive(self) -> Generator[Deferred, Any, None]:
        """
        The same 10 MB file full of ETX and DLE bytes, sent DLE-coded by the
        host, arrives byte-exact through a passive and through an active
        (C{PORT}) data connection.
        """
        server = self.startServer()
        data = escapeRich(BIG)
        host = yield self.ready(server.port)
        for mode, name in ((0, b"passive.bin"), (1, b"active.bin")):
            yield self.setting(host, b"AT#FTPMODE=%d" % (mode,))
            yield self.setting(host, b'AT#FTPPUTFILENAME="%s"' % (name,))
            yield self.put(host, data)
            stored = server.home.child(name.decode()).getContent()
            self.assertSameBytes(stored, data, "on the server, FTPMODE=%d" % (mode,))
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_putSubdirectory(self) -> Generator[Deferred, Any, None]:
        """
        A file put in a sub-directory lands there.
        """
        server = self.startServer()
        server.home.child("logs").makedirs()
        host = yield self.ready(server.port)
        yield self.setting(host, b'AT#FTPPUTPATH="logs"')
        yield self.setting(host, b'AT#FTPPUTFILENAME="today.log"')
        yield self.put(host, b"line 1\r\nline 2\r\n")
        self.assertEqual(
            server.home.child("logs").child("today.log").getContent(), b"line 1\r\nline 2\r\n"
        )

    # -- failures -----------------------------------------------------------------------

    @inlineCallbacks
    def failing(self, port: int, line: bytes, code: int, **kwargs: Any) -> Generator[Deferred, Any, None]:
        host = yield self.ready(port, **kwargs)
        yield self.setting(host, b'AT#FTPGETFILENAME="missing.bin"')
        yield self.setting(host, b'AT#FTPPUTFILENAME="up.bin"')
        self.assertEqual((yield host.command(line)), cme(code))
        self.assertEqual((yield host.command(b"AT")), OK)

    def test_missingFile(self) -> "Deferred[None]":
        """
        A file that is not there answers 37953 and nothing else.
        """
        return self.failing(self.startServer().port, b"AT#FTPGET", 37953)

    @inlineCallbacks
    def test_missingDirectory(self) -> Generator[Deferred, Any, None]:
        """
        A path that is not there answers 37953, for an upload too.
        """
        server = self.startServer()
        host = yield self.ready(server.port)
        yield self.setting(host, b'AT#FTPPUTPATH="nowhere"')
        yield self.setting(host, b'AT#FTPPUTFILENAME="up.bin"')
        self.assertEqual((yield host.command(b"AT#FTPPUT")), cme(37953))

    def test_wrongPassword(self) -> "Deferred[None]":
        """
        A refused login answers 37952.
        """
        return self.failing(self.startServer().port, b"AT#FTPGET", 37952, password="wrong")

    def test_noServer(self) -> "Deferred[None]":
        """
        A port where no server listens answers 38016.
        """
        return self.failing(freePort(), b"AT#FTPPUT", 38016)

    @inlineCallbacks
    def test_nameDoesNotResolve(self) -> Generator[Deferred, Any, None]:
        """
        A server name that does not resolve answers 38027.
        """
        host = yield self.ready(21)
        yield self.setting(host, b'AT#FTPSERV="ftp.nosuch.invalid"')
        yield self.setting(host, b'AT#FTPGETFILENAME="x"')
        self.assertEqual((yield host.command(b"AT#FTPGET")), cme(38027))

    @inlineCallbacks
    def test_silentServer(self) -> Generator[Deferred, Any, None]:
        """
        A server that never answers gives 37964 after C{ftp_timeout}.
        """
        mute = listenMute(reactor)
        self.addCleanup(mute.stopListening)
        host = yield self.ready(mute.getHost().port, ftp_timeout=0.5)
        yield self.setting(host, b'AT#FTPGETFILENAME="x"')
        self.assertEqual((yield host.command(b"AT#FTPGET")), cme(37964))
        self.assertEqual(len(mute.factory.connections), 1)
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_dataConnectionDropped(self) -> Generator[Deferred, Any, None]:
        """
        A server that drops the data connection mid-file: the host gets
        what came, the bare ETX, then 37954 instead of C{OK}.
        """
        server = self.startServer(dropAfter=200000)
        data = escapeRich(1 << 20)
        server.home.child("big.bin").setContent(data)
        host = yield self.ready(server.port)
        yield self.setting(host, b'AT#FTPGETFILENAME="big.bin"')
        host.write(b"AT#FTPGET\r")
        yield host.until(DATA_BEGIN)
        coded = yield host.until(ETX + cme(37954))
        payload, rest = dle.Decoder().feed(coded)
        self.assertEqual(rest, cme(37954))
        self.assertLess(len(payload), len(data))
        self.assertEqual(payload, data[: len(payload)])
        self.assertEqual((yield host.command(b"AT")), OK)
        # Twisted's server logs the broken transfer as an error.
        self.flushLoggedErrors(Exception)

    @inlineCallbacks
    def test_busy(self) -> Generator[Deferred, Any, None]:
        """
        While an upload runs, FTP parameters cannot change and no other
        service starts (37123); an empty file name is a bad value.
        """
        server = self.startServer()
        host = yield self.ready(server.port)
        self.assertEqual((yield host.command(b"AT#FTPPUT")), cme(34882))
        yield self.setting(host, b'AT#FTPPUTFILENAME="up.bin"')
        host.write(b"AT#FTPPUT\r")
        yield host.until(WAITING)
        host.write(b"abc" + ETX)
        self.assertEqual((yield host.result()), OK)
        self.assertEqual(server.home.child("up.bin").getContent(), b"abc")

    @inlineCallbacks
    def test_uploadDataConnectionDropped(self) -> Generator[Deferred, Any, None]:
        """
        A server that drops an upload's data connection mid-file: the host
        sends the rest of its file and its ETX, and gets 37954 (no ETX
        before it); the rest of the file is never read as commands.
        """
        server = self.startServer(dropAfter=100000)
        host = yield self.ready(server.port)
        yield self.setting(host, b'AT#FTPPUTFILENAME="up.bin"')
        host.write(b"AT#FTPPUT\r")
        yield host.until(WAITING)
        yield deferLater(reactor, 0.2, lambda: None)
        host.write(dle.encode(b"AT+CGMI\r" * 200000) + ETX)
        self.assertEqual((yield host.result(BULK_WAIT)), cme(37954))
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_hostCancelsWhileConnecting(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX while the server has not answered gives up the transfer:
        C{OK}, and command mode.
        """
        mute = listenMute(reactor)
        self.addCleanup(mute.stopListening)
        host = yield self.ready(mute.getHost().port)
        yield self.setting(host, b'AT#FTPGETFILENAME="x"')
        host.write(b"AT#FTPGET\r")
        yield deferLater(reactor, 0.3, lambda: None)
        host.write(ETX)
        self.assertEqual((yield host.result()), OK)
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_hostAbandonsDownload(self) -> Generator[Deferred, Any, None]:
        """
        A bare ETX from the host during a download abandons the rest of the
        file: no ETX comes back, and the answer is 37954.
        """
        server = self.startServer()
        data = escapeRich(8 << 20)
        server.home.child("big.bin").setContent(data)
        host = yield self.ready(server.port)
        yield self.setting(host, b'AT#FTPGETFILENAME="big.bin"')
        host.write(b"AT#FTPGET\r")
        yield host.until(DATA_BEGIN)
        host.write(ETX)
        received = yield host.until(cme(37954), BULK_WAIT)
        payload, rest = dle.Decoder().feed(received)
        self.assertIsNone(rest)
        payload = payload[: -len(cme(37954))]
        self.assertLess(len(payload), len(data))
        self.assertEqual(payload, data[: len(payload)])
        self.assertEqual((yield host.command(b"AT")), OK)
        self.flushLoggedErrors(Exception)

    @inlineCallbacks
    def test_hostStopsReading(self) -> Generator[Deferred, Any, None]:
        """
        A host that stops reading for 5 s during a 32 MB download holds
        the transfer: the bridge takes almost nothing from the server
        meanwhile and its memory grows by less than 16 MB; then the whole
        file arrives intact.
        """
        server = self.startServer()
        data = os.urandom(32 << 20)
        server.home.child("big.bin").setContent(data)
        host = yield self.ready(server.port)
        yield self.setting(host, b'AT#FTPGETFILENAME="big.bin"')
        host.write(b"AT#FTPGET\r")
        yield host.until(DATA_BEGIN)
        digest = hashlib.sha256()
        decoder = dle.Decoder()
        first, rest = decoder.feed((yield host.count(1 << 20, BULK_WAIT)))
        digest.update(first)
        splice = self.service.modem.session.splice
        host.transport.pauseProducing()
        yield deferLater(reactor, 0.5, lambda: None)
        before, taken = rss(), splice.sentToHost
        yield deferLater(reactor, 4.5, lambda: None)
        grown, took = rss() - before, splice.sentToHost - taken
        self.assertLess(grown, 16 << 20, "memory grew while the host did not read")
        self.assertLess(took, 1 << 20, "the bridge read on from the server")
        self.assertLess(splice.sentToHost, len(data) // 2)
        host.transport.resumeProducing()
        while rest is None:
            chunk = yield host.count(min(len(host.pending) or 1, 1 << 20), BULK_WAIT)
            payload, rest = decoder.feed(chunk)
            digest.update(payload)
            # Keep the host's memory flat too.
            del host.received[: host.cursor]
            host.cursor = 0
        self.assertEqual(digest.hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertEqual(rest + (yield host.count(len(OK) - len(rest))), OK)
