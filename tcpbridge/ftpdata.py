"""
The pieces an FTP transfer is made of, below the service: Twisted's own FTP
client taught to say when the server accepts a transfer, and the data
connection as a data-mode session sees its peer.

Twisted's L{FTPClient<twisted.protocols.ftp.FTPClient>} carries the control
connection (commands, replies, PASV or PORT) and opens the data connection;
what crosses the data connection goes through a
L{tcpbridge.session.Session}, so the file streams between the host and the
server with the session's backpressure and DLE coding.
"""

import re
from typing import Any, Callable, Optional

from twisted.internet.interfaces import IAddress, IPushProducer
from twisted.internet.protocol import Protocol
from twisted.protocols import ftp
from twisted.python.failure import Failure

_REPLY = re.compile(rb"^\d{3} ")


class Client(ftp.FTPClient):
    """
    Twisted's FTP client, driven step by step by a transfer.

    It does not log in by itself (the transfer sends C{USER} and C{PASS}
    so that it can tell a refused login from other failures), it makes
    its passive data connections with the reactor it is given, and it
    reports every reply line to C{onReply} (Twisted's client swallows the
    preliminary C{1xx} replies, which are what says a transfer starts).
    """

    def __init__(self, reactor: Any, passive: bool, onReply: Callable[[bytes], None]) -> None:
        ftp.FTPClient.__init__(self, passive=int(passive))
        self.reactor = reactor
        self.connectFactory = reactor.connectTCP  # type: ignore[assignment]
        self.onReply = onReply
        self.lost: Optional[Failure] = None

    def queueLogin(self, username: str, password: str) -> None:
        # Logging in is the transfer's first step, not the constructor's.
        pass

    def generatePortCommand(self, portCmd: Any) -> None:
        """
        Listen for an active-mode data connection: unlike Twisted's own,
        with the reactor given, only on the address the control connection
        uses, and only for the server's address.
        """
        host = self.transport.getHost().host
        factory = _DataPortFactory(self.transport.getPeer().host)
        factory.protocol = portCmd.protocol
        listener = factory.port = self.reactor.listenTCP(0, factory, interface=host)

        def listenerFail(error: Any) -> Any:
            if listener.connected:
                listener.loseConnection()
            return error

        portCmd.fail = listenerFail
        portCmd.text = "PORT " + ftp.encodeHostPort(host, listener.getHost().port)

    def lineReceived(self, line: bytes) -> None:
        if _REPLY.match(line):
            self.onReply(line)
        ftp.FTPClient.lineReceived(self, line)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.lost = reason
        ftp.FTPClient.connectionLost(self, reason)


class _DataPortFactory(ftp.FTPDataPortFactory):
    """
    Takes the one active-mode data connection, from the server only.
    """

    def __init__(self, server: str) -> None:
        self.server = server

    def buildProtocol(self, addr: Any) -> Any:
        if getattr(addr, "host", None) != self.server:
            return None
        return ftp.FTPDataPortFactory.buildProtocol(self, addr)


def replyCode(failure: Failure) -> Optional[int]:
    """
    The server's reply code behind a failed FTP command, if the server
    refused it (rather than the connection failing).
    """
    error = failure.value
    while isinstance(error, ftp.ConnectionLost) and len(error.args) > 1:
        inner = error.args[1]
        error = inner.value if isinstance(inner, Failure) else inner
    if isinstance(error, ftp.CommandFailed) and error.args and error.args[0]:
        last = error.args[0][-1]
        if isinstance(last, str) and last[:3].isdigit():
            return int(last[:3])
    return None


class DataLink:
    """
    The data connection as the session's peer transport.

    Downloading, the host's bytes are dropped (only its closing ETX
    counts: it abandons the file).  Uploading, the host's bytes go to the
    server; if the data connection is lost before the host has sent its
    closing ETX, what the host still sends is dropped and the session ends
    at that ETX, so that the rest of the file is never read as commands.

    @ivar transport: the data connection's transport, once connected.
    @ivar paused: whether the session holds the data connection's reading.
    @ivar hostClosed: whether the session closed the link (the host's ETX,
        or a shutdown).
    """

    def __init__(self, reactor: Any, upload: bool, onConnected: Callable[[], None]) -> None:
        """
        @param onConnected: called once the data connection is open.
        """
        self.reactor = reactor
        self.upload = upload
        self.onConnected = onConnected
        self.transport: Any = None
        self.session: Any = None
        self.paused = False
        self.hostClosed = False
        self.lostReason: Optional[Failure] = None
        self.dropped = 0

    # -- the data connection's side ------------------------------------------

    def connected(self, transport: Any) -> None:
        """
        The data connection is open: hold its reading until the session
        opens.
        """
        self.transport = transport
        transport.pauseProducing()
        self.onConnected()

    def opened(self, session: Any) -> None:
        """
        The session owns the link now: read the data connection.
        """
        self.session = session
        if self.lostReason is not None:
            self._deliver()
        else:
            self.transport.resumeProducing()

    def received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.peerData(data)

    def lost(self, reason: Failure) -> None:
        """
        The data connection is gone: the session ends now, or (uploading)
        at the host's ETX.
        """
        if self.lostReason is not None:
            return
        self.lostReason = reason
        if self.session is not None and (self.hostClosed or not self.upload):
            self._deliver()

    def _deliver(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            session.peerLost(self, self.lostReason)

    # -- what the session sees (ITransport, IPushProducer) -----------------

    def write(self, data: bytes) -> None:
        if self.upload and self.lostReason is None:
            self.transport.write(data)
        else:
            self.dropped += len(data)

    def writeSequence(self, data: Any) -> None:
        self.write(b"".join(data))

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None:
        if self.lostReason is None:
            self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        if self.transport is not None and self.transport.producer is not None:
            self.transport.unregisterProducer()

    def pauseProducing(self) -> None:
        self.paused = True
        if self.lostReason is None:
            self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.paused = False
        if self.lostReason is None:
            self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.loseConnection()

    def loseConnection(self) -> None:
        """
        The host ended the file (its ETX) or the session is shut down:
        uploading, close the data connection once the last bytes are out
        (the server takes its end as the end of the file); downloading,
        abandon the rest of the file.
        """
        self.hostClosed = True
        if self.lostReason is not None:
            self.reactor.callLater(0, self._deliver)
        elif self.upload:
            self.transport.loseConnection()
        else:
            self.transport.abortConnection()

    def abortConnection(self) -> None:
        self.hostClosed = True
        if self.lostReason is not None:
            self.reactor.callLater(0, self._deliver)
        else:
            self.transport.abortConnection()

    def fail(self) -> None:
        """
        The transfer failed: drop the data connection (the session then
        ends as L{lost} says).
        """
        if self.transport is not None and self.lostReason is None:
            self.transport.abortConnection()

    def getPeer(self) -> IAddress:
        return self.transport.getPeer()

    def getHost(self) -> IAddress:
        return self.transport.getHost()


class Download(Protocol):
    """
    The protocol of a download's data connection: hands everything to its
    L{DataLink}.
    """

    def __init__(self, link: DataLink) -> None:
        self.link = link

    def connectionMade(self) -> None:
        self.link.connected(self.transport)

    def dataReceived(self, data: bytes) -> None:
        self.link.received(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.link.lost(reason)
