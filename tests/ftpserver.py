"""
A real FTP server for the FTP tests: Twisted's own (L{FTPFactory} with an
L{FTPRealm}) over a temporary directory on 127.0.0.1, port 0, passive and
active transfers, one user with a password and anonymous access; and the
ways a server goes wrong (dropping the data connection mid-file, saying
nothing at all).
"""

from typing import Any, List, Optional

from twisted.cred.checkers import AllowAnonymousAccess, InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols import ftp
from twisted.python.filepath import FilePath

from tests.hostside import poll

USER = "logger"
PASSWORD = "secret"


class TestFTP(ftp.FTP):
    """
    Twisted's FTP server protocol, with two changes for the tests: ASCII
    downloads work (Twisted's own conversion fails on Python 3: it looks
    for a text line separator in bytes), and a download's data connection
    (or an upload's) is aborted once C{factory.dropAfter} bytes have
    crossed it, if that is set.
    """

    def ftp_RETR(self, path: str) -> Deferred:
        dtp = self.dtpInstance
        if dtp is None:
            return ftp.FTP.ftp_RETR(self, path)
        write = dtp.write
        limit = getattr(self.factory, "dropAfter", None)
        sent = [0]
        ascii = not self.binary

        def send(data: bytes) -> None:
            if ascii:
                data = data.replace(b"\n", b"\r\n")
            if limit is None:
                return write(data)
            if sent[0] >= limit:
                return
            sent[0] += len(data)
            write(data)
            if sent[0] >= limit:
                dtp.transport.abortConnection()

        dtp.write = send  # type: ignore[method-assign]
        self.binary = True
        try:
            return ftp.FTP.ftp_RETR(self, path)
        finally:
            self.binary = not ascii

    def ftp_STOR(self, path: str) -> Deferred:
        dtp = self.dtpInstance
        limit = getattr(self.factory, "dropAfter", None)
        if dtp is not None and limit is not None:
            receive = dtp.dataReceived
            taken = [0]

            def dropping(data: bytes) -> None:
                taken[0] += len(data)
                receive(data)
                if taken[0] >= limit:
                    dtp.transport.abortConnection()

            dtp.dataReceived = dropping  # type: ignore[method-assign]
        return ftp.FTP.ftp_STOR(self, path)


class FTPServer:
    """
    Twisted's FTP server over C{root}: C{root/anonymous} for anonymous
    users, C{root/home/logger} for the user C{logger}.

    @ivar port: the listening port's number.
    """

    def __init__(self, reactor: Any, root: FilePath, dropAfter: Optional[int] = None) -> None:
        self.reactor = reactor
        self.anonymous = root.child("anonymous")
        self.home = root.child("home").child(USER)
        self.anonymous.makedirs()
        self.home.makedirs()
        realm = ftp.FTPRealm(self.anonymous.path, root.child("home").path)
        # Twisted's FTP server hands the checker text, not bytes.
        checker = InMemoryUsernamePasswordDatabaseDontUse()
        checker.addUser(USER, PASSWORD)  # type: ignore[arg-type]
        self.factory = ftp.FTPFactory(Portal(realm, [AllowAnonymousAccess(), checker]))
        # No idle timer: a test must leave no delayed call behind.
        self.factory.timeOut = None
        self.factory.protocol = TestFTP
        self.factory.dropAfter = dropAfter  # type: ignore[attr-defined]
        self.listening = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        self.port = self.listening.getHost().port

    def stop(self) -> Deferred:
        """
        Stop listening, and wait until every control connection is gone.
        """
        d = self.listening.stopListening()
        d.addCallback(
            lambda _: poll(
                self.reactor, lambda: self.factory.connectionCount == 0, "FTP connections to end"
            )
        )
        return d


class _Mute(Protocol):
    def connectionMade(self) -> None:
        self.factory.connections.append(self)  # type: ignore[attr-defined]


def listenMute(reactor: Any) -> Any:
    """
    A server that accepts connections and never says a word.

    @return: its listening port; C{port.factory.connections} are the
        connections it took.
    """
    factory = Factory.forProtocol(_Mute)
    factory.connections: List[_Mute] = []  # type: ignore[misc]
    factory.noisy = False
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    port.factory = factory
    return port
