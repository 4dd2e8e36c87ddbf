"""
The POP3 service: its parameters (C{AT#VPOP3}) and C{AT#GETMAIL}, which
fetches the first message of the mailbox to the host and deletes it once
the host has been sent all of it.

Twisted's POP3 client does the talking: STLS when the server offers it
(C{pop3_tls}), APOP when the server offers a challenge, USER and PASS
otherwise.  The message is streamed line by line: while the host cannot
take more, the server's connection is not read.
"""

import hashlib
from typing import Any, Callable, Generator, Optional

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import DNSLookupError, TimeoutError
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import ClientCreator
from twisted.logger import Logger
from twisted.mail.pop3 import ServerErrorResponse
from twisted.mail.pop3client import POP3Client
from zope.interface import implementer

from tcpbridge import mail
from tcpbridge.atcommands import Command
from tcpbridge.parameters import Parameter, integer, text
from tcpbridge.registry import CONNECTING, CommandSpec, Service
from tcpbridge.results import BAD_VALUE, DNS_FAILED, TCP_OPEN_FAILED, ATError
from tcpbridge.tls import clientOptions

#: What the host receives after the message.
END_MARK = b"\r\n.\r\n"

#: Seconds between looks at the serial line's buffer once the message is
#: out, before it is deleted on the server.
DRAIN_POLL = 0.02


def _pop3(name: str, default: object, parse: object, allowed: str, quoted: bool = True) -> Parameter:
    return Parameter(name, default, parse, allowed, quoted=quoted, profiled=False, listing="#VPOP3")  # type: ignore[arg-type]


class _Client(POP3Client):
    """
    Twisted's POP3 client, timed by the bridge's reactor; it logs in in
    clear where the server offers neither APOP nor STLS, as the modem did.
    """

    allowInsecureLogin = True

    def __init__(self, reactor: Any) -> None:
        self.callLater = reactor.callLater
        self.timeout = int(mail.SERVER_TIMEOUT)


@implementer(IPushProducer)
class MessageToHost:
    """
    The lines of one message on their way to the host: the header dropped
    unless wanted, lines starting with a dot doubled, the end mark last.
    While the host's side is full, the server's connection is not read.
    """

    def __init__(self, write: Callable[[bytes], None], headers: bool, server: Any) -> None:
        self.write = write
        self.inHeader = not headers
        self.server = server
        self.first = True
        self.lines = 0

    def line(self, line: bytes) -> None:
        if self.inHeader:
            self.inHeader = line != b""
            return
        if line[:1] == b".":
            line = b"." + line
        self.write(line if self.first else b"\r\n" + line)
        self.first = False
        self.lines += 1

    def end(self) -> None:
        self.write(END_MARK)

    def pauseProducing(self) -> None:
        self.server.pauseProducing()

    def resumeProducing(self) -> None:
        self.server.resumeProducing()

    def stopProducing(self) -> None:
        self.server.loseConnection()


class POP3(Service):
    """
    One bridge's POP3 client.
    """

    log = Logger()

    name = "pop3"
    commands = {
        "#VPOP3": CommandSpec("listing", "a"),
        "#GETMAIL": CommandSpec("getmail", "a"),
    }
    parameters = [
        _pop3("#POP3SERV", "", mail.serverOrNone, '"<IPv4 address or host name, up to 120 characters>"'),
        _pop3("#POP3PORT", 110, integer(1, 65535), "(1-65535)", quoted=False),
        _pop3("#POP3UN", "", text(64), '"<user name>"'),
        _pop3("#POP3PW", "", text(64), '"<password>"'),
        _pop3("#POP3HEADERMODE", 1, integer(0, 1), "(0-1)", quoted=False),
    ]

    def __init__(self, modem: Any) -> None:
        Service.__init__(self, modem)
        self._client: Optional[_Client] = None

    def getmail(self, command: Command) -> Deferred:
        m = self.modem
        pid = m.ipStart(command)
        if not m.profile.get("#POP3SERV"):
            raise ATError(BAD_VALUE)
        m.claim(self, pid, CONNECTING)

        def release(result: object) -> object:
            self._client = None
            m.streamToHost(None)
            if m.runs(self.name):
                m.release()
            return result

        return self._fetch().addBoth(release)

    @inlineCallbacks
    def _fetch(self) -> Generator[Deferred, Any, None]:
        m = self.modem
        p = m.profile
        host, port = str(p.get("#POP3SERV")), int(p.get("#POP3PORT"))
        try:
            client = yield ClientCreator(m.reactor, _Client, m.reactor).connectTCP(
                host, port, m.config.connect_timeout
            )
        except DNSLookupError as e:
            self._warn(DNS_FAILED, e)
            raise ATError(DNS_FAILED)
        except Exception as e:
            self._warn(TCP_OPEN_FAILED, e)
            raise ATError(TCP_OPEN_FAILED)
        self._client = client
        stage = TCP_OPEN_FAILED  # the greeting refused us
        toHost: Optional[MessageToHost] = None
        try:
            caps = yield client.capabilities()
            stage = mail.TLS_FAILED
            yield self._secure(client, caps)
            stage = mail.LOGIN_REFUSED
            user, password = str(p.get("#POP3UN")).encode(), str(p.get("#POP3PW")).encode()
            if client.serverChallenge is not None:
                digest = hashlib.md5(client.serverChallenge + password).hexdigest()
                yield client.apop(user, digest.encode("ascii"))
            else:
                yield client.user(user)
                yield client.password(password)
            stage = mail.MAILBOX_REFUSED
            count, size = yield client.stat()
            if count == 0:
                yield client.quit()
                m.result("Ok_Info_NoMail")
                self.log.info("{bridge}: no mail on {host}", bridge=m.name, host=host)
                return
            m.result("Ok_Info_Mail")
            toHost = MessageToHost(m.write, p.get("#POP3HEADERMODE") == 1, client.transport)
            m.streamToHost(toHost)
            yield client.retrieve(0, toHost.line)
            toHost.end()
            toHost = None
            # Deleted only once the host has been sent all of it.
            yield self._drained()
            yield client.delete(0)
            yield client.quit()
            self.log.info(
                "{bridge}: mail of {size} bytes from {host} sent to the host and deleted",
                bridge=m.name, size=size, host=host,
            )
        except Exception as e:
            if toHost is not None:
                toHost.end()
            if isinstance(e, TimeoutError):
                code = mail.SERVER_SILENT
            elif isinstance(e, ServerErrorResponse) or stage == mail.TLS_FAILED:
                code = stage
            else:
                code = mail.CONNECTION_LOST
            self._warn(code, e)
            client.transport.loseConnection()
            raise ATError(code)

    def _secure(self, client: _Client, caps: Any) -> Optional[Deferred]:
        """
        Start TLS when the server offers STLS (C{pop3_tls = auto}), or
        insist on it (C{required}).
        """
        mode = self.modem.config.pop3_tls
        if mode == "off" or (b"STLS" not in caps and mode == "auto"):
            return None
        if b"STLS" not in caps:
            raise ServerErrorResponse(b"STLS not offered")
        host = str(self.modem.profile.get("#POP3SERV"))
        return client.startTLS(clientOptions(host, self.modem.config.tls_ca))

    def _drained(self) -> Deferred:
        """
        Fires once the serial line has handed everything to the host.

        A transport says when its buffer is empty only to a paused
        streaming producer, so its buffer is looked at until it is.
        """
        m = self.modem
        done: Deferred = Deferred()

        def look() -> None:
            t = m.transport
            if t is None:
                done.errback(ATError(mail.CONNECTION_LOST))
            elif len(getattr(t, "dataBuffer", b"")) - getattr(t, "offset", 0) + sum(
                len(b) for b in getattr(t, "_tempDataBuffer", ())
            ) > 0:
                m.reactor.callLater(DRAIN_POLL, look)
            else:
                done.callback(None)

        look()
        return done

    def _warn(self, code: int, e: object) -> None:
        self.log.warn(
            "{bridge}: mail not fetched (CME error {code}): {error}",
            bridge=self.modem.name, code=code, error=e,
        )

    def shutdown(self) -> None:
        if self._client is not None and self._client.transport is not None:
            self._client.transport.abortConnection()
