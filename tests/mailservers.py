"""
Real mail servers for the integration tests, on 127.0.0.1 and port 0:
Twisted's own ESMTP server (AUTH through a cred checker, STARTTLS with a
certificate the test made, a temporary mailbox of what it accepted) and
Twisted's own POP3 server over a mailbox the test fills (APOP or USER and
PASS; STLS, which Twisted's server does not offer itself, added here).
"""

import io
from typing import Any, Dict, List, Optional, Sequence, Tuple

from twisted.cred.checkers import AllowAnonymousAccess, InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Factory
from twisted.mail import imap4, pop3, smtp
from twisted.mail.pop3 import IMailbox
from zope.interface import implementer

#: The user the servers know, and the password.
USER, PASSWORD = "meter", "s3cret"


class Server(Factory):
    """
    A server that knows its open connections, so that a test can wait
    until they have closed.
    """

    connections = 0
    _idle: Optional[Deferred] = None

    def opened(self, protocol: Any) -> Any:
        self.connections += 1
        lost = protocol.connectionLost

        def connectionLost(reason: Any) -> None:
            lost(reason)
            self.connections -= 1
            if not self.connections and self._idle is not None:
                self._idle, idle = None, self._idle
                idle.callback(None)

        protocol.connectionLost = connectionLost
        return protocol

    def idle(self) -> Deferred:
        """
        Fires once no connection is open.
        """
        if not self.connections:
            return succeed(None)
        self._idle = Deferred()
        return self._idle


@implementer(smtp.IMessage)
class _Message:
    def __init__(self, server: "SMTPServer", origin: str, recipient: str) -> None:
        self.server, self.origin, self.recipient = server, origin, recipient
        self.lines: List[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> Any:
        self.server.accepted(self.origin, self.recipient, b"\r\n".join(self.lines) + b"\r\n")
        return succeed(None)

    def connectionLost(self) -> None:
        pass


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, server: "SMTPServer", user: Any) -> None:
        self.server, self.user = server, user

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> None:
        return None

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        self.server.helos.append(helo[0])
        return origin

    def validateTo(self, user: smtp.User) -> Any:
        address = str(user.dest)
        if address in self.server.refuse:
            raise smtp.SMTPBadRcpt(user)
        return lambda: _Message(self.server, str(user.orig), address)


@implementer(IRealm)
class _Realm:
    def __init__(self, server: Any) -> None:
        self.server = server

    def requestAvatar(self, avatarId: Any, mind: Any, *interfaces: Any) -> Tuple[Any, Any, Any]:
        if pop3.IMailbox in interfaces:
            self.server.logins.append(avatarId)
            return pop3.IMailbox, self.server.mailbox, lambda: None
        if smtp.IMessageDelivery in interfaces:
            self.server.logins.append(avatarId)
            return smtp.IMessageDelivery, _Delivery(self.server, avatarId), lambda: None
        raise NotImplementedError()


class _ESMTP(smtp.ESMTP):
    def __init__(self, server: "SMTPServer") -> None:
        challengers = {b"LOGIN": smtp.LOGINCredentials, b"PLAIN": imap4.PLAINCredentials}
        smtp.ESMTP.__init__(self, challengers, server.tls)
        self.host = b"mail.test"


class SMTPServer(Server):
    """
    Twisted's ESMTP server: the messages it accepted, as (sender,
    recipient, message with CR LF line ends) in C{messages}.

    @ivar refuse: recipients it refuses.
    @ivar helos: the names the clients gave in EHLO.
    @ivar logins: the users that logged in (C{()} for anonymous ones).
    """

    def __init__(self, tls: Any = None, anonymous: bool = True) -> None:
        self.tls = tls
        self.messages: List[Tuple[str, str, bytes]] = []
        self.refuse: List[str] = []
        self.helos: List[bytes] = []
        self.logins: List[Any] = []
        checkers: List[Any] = [InMemoryUsernamePasswordDatabaseDontUse(**{USER: PASSWORD.encode()})]
        if anonymous:
            checkers.append(AllowAnonymousAccess())
        self.portal = Portal(_Realm(self), checkers)

    def buildProtocol(self, addr: Any) -> smtp.ESMTP:
        p = _ESMTP(self)
        p.factory = self
        p.portal = self.portal
        return self.opened(p)

    def accepted(self, origin: str, recipient: str, message: bytes) -> None:
        self.messages.append((origin, recipient, message))


class Mailbox(pop3.Mailbox):
    """
    A POP3 mailbox of messages (bytes, LF or CR LF line ends) the test
    puts in; deletions take effect at QUIT, as POP3 says.
    """

    def __init__(self, messages: Sequence[bytes] = ()) -> None:
        self.messages: List[Optional[bytes]] = list(messages)
        self.deleted: List[int] = []

    def listMessages(self, i: Optional[int] = None) -> Any:
        sizes = [0 if m is None or n in self.deleted else len(m) for n, m in enumerate(self.messages)]
        return sizes if i is None else sizes[i]

    def getMessage(self, i: int) -> Any:
        message = self.messages[i]
        if message is None or i in self.deleted:
            raise ValueError(i)
        # Twisted's server adds CR LF to each line it reads.
        return io.BytesIO(message.replace(b"\r\n", b"\n"))

    def getUidl(self, i: int) -> bytes:
        return b"%d" % (i,)

    def deleteMessage(self, i: int) -> None:
        self.deleted.append(i)

    def undeleteMessages(self) -> None:
        self.deleted = []

    def sync(self) -> None:
        for i in self.deleted:
            self.messages[i] = None
        self.deleted = []
        self.messages = [m for m in self.messages if m is not None]

    @property
    def left(self) -> List[bytes]:
        """
        The messages still in the box.
        """
        return [m for m in self.messages if m is not None]


class _POP3(pop3.POP3):
    AUTH_CMDS = pop3.POP3.AUTH_CMDS + [b"STLS"]

    def generateMagic(self) -> bytes:
        return pop3.POP3.generateMagic(self) if self.factory.apop else b"ready"

    def listCapabilities(self) -> List[bytes]:
        caps = pop3.POP3.listCapabilities(self)
        if self.factory.tls is not None and not self.factory.started.get(id(self)):
            caps.append(b"STLS")
        return caps

    def authenticateUserAPOP(self, user: bytes, digest: bytes) -> Any:
        # Twisted's APOPCredentials compares md5().hexdigest(), a str, with
        # the digest as received, bytes: APOP never succeeds unless decoded.
        return self.portal.login(pop3.APOPCredentials(self.magic, user, digest.decode()), None, IMailbox)

    def do_STLS(self) -> None:
        self.successResponse(b"Begin TLS negotiation now")
        self.transport.startTLS(self.factory.tls)
        self.factory.started[id(self)] = True


class POP3Server(Server):
    """
    Twisted's POP3 server over one L{Mailbox}; with C{apop}, its greeting
    offers an APOP challenge (as Twisted's server does), without, USER and
    PASS only; with C{tls}, it offers STLS.
    """

    def __init__(self, mailbox: Mailbox, apop: bool = True, tls: Any = None) -> None:
        self.mailbox = mailbox
        self.apop = apop
        self.tls = tls
        self.started: Dict[int, bool] = {}
        self.logins: List[Any] = []
        checker = InMemoryUsernamePasswordDatabaseDontUse(**{USER: PASSWORD.encode()})
        self.portal = Portal(_Realm(self), [checker])

    def buildProtocol(self, addr: Any) -> pop3.POP3:
        p = _POP3()
        p.factory = self
        p.portal = self.portal
        return self.opened(p)
