"""
The SMTP service: the sender's and server's parameters (C{AT#VSMTP}), the
three stored mails (C{AT#VMAIL1}..C{3}, with C{AT#RECiADD} and C{AT#BODYi}
typed as text ended by Ctrl-Z), C{AT#SENDMAIL1}..C{3}, and C{AT#PUTMAIL},
whose body the host sends ended by CR LF . CR LF.

Mail goes out through Twisted's ESMTP client: EHLO with C{DOMAIN},
STARTTLS when offered (C{smtp_tls}), AUTH when C{SMTPUN} is set.  A host's
body is spooled to a temporary file on its way, so a large mail costs no
more memory than a small one.  L{sendMessage} lets other services send
mail with these parameters.
"""

import tempfile
from typing import IO, Any, List, Optional, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError
from twisted.logger import Logger
from twisted.mail import smtp
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from OpenSSL.SSL import Error as SSLError

from tcpbridge import mail
from tcpbridge.atcommands import ACTION, SET, Command
from tcpbridge.mail import BodySpool, buildMessage, splitAddresses, wireForm
from tcpbridge.parameters import Parameter, integer, runParameter, text
from tcpbridge.registry import CONNECTING, PARAMETERS, CommandSpec, Service
from tcpbridge.results import BAD_VALUE, BUSY, DNS_FAILED, TCP_OPEN_FAILED, ATError
from tcpbridge.tls import clientOptions

MAILS = (1, 2, 3)


def _shared(name: str, default: object, parse: object, allowed: str, listing: str, quoted: bool = True) -> Parameter:
    return Parameter(name, default, parse, allowed, quoted=quoted, profiled=False, listing=listing)  # type: ignore[arg-type]


def _mailParameters(i: int) -> List[Parameter]:
    listing = "#VMAIL%d" % (i,)
    return [
        _shared("#REC%d" % i, "", mail.addresses, '"<up to 10 addresses, comma-separated>"', listing),
        _shared("#CCREC%d" % i, "", mail.addresses, '"<up to 10 addresses, comma-separated>"', listing),
        _shared("#SUBJ%d" % i, "", text(120), '"<subject>"', listing),
        _shared("#BODY%d" % i, "", mail.body, '"<text, up to 4096 characters>"', listing),
    ]


class _Sender(smtp.ESMTPSender):
    """
    Twisted's ESMTP sender, given a message already in wire form (spooled
    dot-stuffed with CR LF line ends), and timed by the bridge's reactor.
    """

    def transformChunk(self, chunk: bytes) -> bytes:
        self.resetTimeout()
        return chunk

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # type: ignore[assignment]
        smtp.ESMTPSender.connectionLost(self, reason)
        self.factory.lost(reason)


class _SenderFactory(smtp.ESMTPSenderFactory):
    protocol = _Sender
    noisy = False

    def __init__(self, reactor: Any, *args: Any, **kwargs: Any) -> None:
        smtp.ESMTPSenderFactory.__init__(self, *args, **kwargs)
        self.reactor = reactor
        self.connected = False

    def buildProtocol(self, addr: Any) -> _Sender:
        p = smtp.ESMTPSenderFactory.buildProtocol(self, addr)
        p.callLater = self.reactor.callLater
        self.connected = True
        return p  # type: ignore[no-any-return]

    def clientConnectionFailed(self, connector: Any, err: Failure) -> None:
        smtp.ESMTPSenderFactory.clientConnectionFailed(self, connector, err)
        self.file.close()

    def clientConnectionLost(self, connector: Any, err: Failure) -> None:
        pass  # reported by the protocol itself, see lost()

    def lost(self, reason: Failure) -> None:
        """
        The connection is gone (the only moment the spool is surely no
        longer read): report it if the mail was not done, drop the spool.
        """
        self._processConnectionError(None, reason)
        self.file.close()


def errorCode(failure: Failure, connected: bool) -> int:
    """
    The CME error code for a mail that could not be sent.
    """
    e = failure.value
    cause = getattr(e, "__cause__", None)
    if failure.check(smtp.SMTPTimeoutError):
        return mail.SERVER_SILENT
    if failure.check(smtp.AUTHDeclinedError, smtp.AuthenticationError, smtp.AUTHRequiredError):
        return mail.LOGIN_REFUSED
    if failure.check(smtp.EHLORequiredError):
        return mail.LOGIN_REFUSED
    if failure.check(smtp.TLSRequiredError, smtp.TLSError):
        return mail.TLS_FAILED
    if failure.check(smtp.SMTPDeliveryError):
        refused = e.addresses and all(code not in smtp.SUCCESS for _, code, _ in e.addresses)
        return mail.RECIPIENT_REFUSED if refused else mail.MESSAGE_REFUSED
    if isinstance(cause, DNSLookupError):
        return DNS_FAILED
    if failure.check(smtp.SMTPConnectError) and not connected:
        return TCP_OPEN_FAILED
    if isinstance(cause, SSLError):
        return mail.TLS_FAILED
    if failure.check(smtp.SMTPConnectError) and e.code != -1:
        return TCP_OPEN_FAILED  # the server's greeting refused us
    return mail.CONNECTION_LOST


class SMTP(Service):
    """
    One bridge's SMTP client and its stored mails.
    """

    log = Logger()

    name = "smtp"
    commands = {
        "#VSMTP": CommandSpec("listing", "a"),
        "#PUTMAIL": CommandSpec("putmail", "a"),
    }
    for _i in MAILS:
        commands["#VMAIL%d" % _i] = CommandSpec("listing", "a")
        commands["#SENDMAIL%d" % _i] = CommandSpec("sendmail", "a")
        commands["#REC%dADD" % _i] = CommandSpec("recadd", "a")
        commands["#BODY%d" % _i] = CommandSpec("body", "ars", '#BODY%d: "<text, up to 4096 characters>"' % _i)
    parameters = [
        _shared("#SMTPSERV", "", mail.serverOrNone, '"<IPv4 address or host name, up to 120 characters>"', "#VSMTP"),
        _shared("#SMTPPORT", 25, integer(1, 65535), "(1-65535)", "#VSMTP", quoted=False),
        _shared("#SMTPUN", "", text(64), '"<user name>"', "#VSMTP"),
        _shared("#SMTPPW", "", text(64), '"<password>"', "#VSMTP"),
        _shared("#SMTPAUTH", 0, integer(0, 1), "(0-1)", "#VSMTP", quoted=False),
        _shared("#DOMAIN", "", text(120), '"<domain name>"', "#VSMTP"),
        _shared("#SENDERNAME", "", text(120), '"<name>"', "#VSMTP"),
        _shared("#SENDERADDR", "", mail.address, '"<address>"', "#VSMTP"),
    ]
    for _i in MAILS:
        parameters += _mailParameters(_i)
    del _i

    def __init__(self, modem: Any) -> None:
        Service.__init__(self, modem)
        self._connector: Optional[Any] = None

    # -- parameters -------------------------------------------------------------

    def body(self, command: Command) -> Optional[Deferred]:
        if command.kind != ACTION:
            runParameter(self.modem, PARAMETERS[command.name], command)
            return None
        return self._typed(command.name, lambda t: t, mail.BODY_LIMIT)

    def recadd(self, command: Command) -> Deferred:
        name = command.name[: -len("ADD")]
        return self._typed(name, lambda t: ",".join(t.split()), 130 * mail.MAX_RECIPIENTS)

    def _typed(self, name: str, convert: Any, limit: int) -> Deferred:
        """
        Take a parameter's value as text the host types, ended by Ctrl-Z
        (ESC: leave it as it was), echoed as the command line is.
        """
        m = self.modem
        if m.runs(self.name):
            raise ATError(BUSY)
        typed = bytearray()
        done: Deferred = Deferred()

        def take(data: bytes) -> None:
            ends = [i for i in (data.find(mail.CTRL_Z), data.find(mail.ESC)) if i != -1]
            end = min(ends) if ends else len(data)
            if m.echo:
                m.write(data[:end])
            if len(typed) <= limit:
                typed.extend(data[:end])
            if not ends:
                return
            m.capture(None)
            m.hold(data[end + 1 :])
            if data[end : end + 1] == mail.ESC:
                done.callback(None)
                return
            try:
                runParameter(m, PARAMETERS[name], Command(name, SET, (convert(typed.decode("latin-1")),)))
            except ATError as e:
                done.errback(e)
            else:
                done.callback(None)

        m.capture(take)
        return done

    # -- sending ----------------------------------------------------------------

    def _mail(self, i: int, text: Optional[str]) -> "tuple[List[str], bytes]":
        """
        The recipients of stored mail C{i} and its message (with C{text} as
        the body), or only its header (C{text} L{None}).
        """
        p = self.modem.profile
        to = splitAddresses(str(p.get("#REC%d" % i)))
        cc = splitAddresses(str(p.get("#CCREC%d" % i)))
        message = self.message(to, cc, str(p.get("#SUBJ%d" % i)), text)
        return to + cc, message

    def message(self, to: Sequence[str], cc: Sequence[str], subject: str, text: Optional[str]) -> bytes:
        """
        A message from this bridge's sender to C{to} and C{cc}.
        """
        p = self.modem.profile
        return buildMessage(
            str(p.get("#SENDERNAME")),
            str(p.get("#SENDERADDR")),
            to,
            cc,
            subject,
            str(p.get("#DOMAIN")),
            self.modem.reactor.seconds(),
            text,
        )

    def _check(self, recipients: Sequence[str]) -> None:
        p = self.modem.profile
        if not recipients or not p.get("#SMTPSERV") or not p.get("#SENDERADDR"):
            raise ATError(BAD_VALUE)

    def sendmail(self, command: Command) -> Deferred:
        m = self.modem
        i = int(command.name[-1])
        pid = m.ipStart(command)
        recipients, message = self._mail(i, str(m.profile.get("#BODY%d" % i)))
        self._check(recipients)
        m.claim(self, pid, CONNECTING)
        spool = tempfile.SpooledTemporaryFile(max_size=1 << 16)
        spool.write(wireForm(message))
        return self._finish(self.deliver(recipients, spool))

    def putmail(self, command: Command) -> Deferred:
        m = self.modem
        pid = m.ipStart(command)
        recipients, _ = self._mail(1, None)
        self._check(recipients)
        m.claim(self, pid, CONNECTING)
        spool = tempfile.TemporaryFile()
        body = BodySpool(spool, lambda: self._mail(1, None)[1])
        done: Deferred = Deferred()

        def take(data: bytes) -> None:
            try:
                rest = body.feed(data)
            except OSError as e:
                self.log.error("{bridge}: cannot spool the mail: {error}", bridge=m.name, error=e)
                rest = b""
                spool.close()
            if rest is None:
                return
            m.capture(None)
            m.hold(rest)
            if spool.closed:
                done.errback(ATError(mail.MESSAGE_REFUSED))
                return
            self.log.info("{bridge}: mail body of {size} bytes taken", bridge=m.name, size=body.size)
            self.deliver(recipients, spool).chainDeferred(done)

        m.result("Ok_Info_WaitingForData")
        m.capture(take)
        return self._finish(done)

    def _finish(self, sent: Deferred) -> Deferred:
        def release(result: object) -> object:
            if self.modem.runs(self.name):
                self.modem.release()
            return result

        return sent.addBoth(release)

    def deliver(self, recipients: Sequence[str], message: IO[bytes]) -> Deferred:
        """
        Send C{message} (a file in wire form, closed once the connection
        is gone) to C{recipients} through the bridge's SMTP server: fires
        with L{None}, or fails with an L{ATError}.
        """
        m = self.modem
        p = m.profile
        host, port = str(p.get("#SMTPSERV")), int(p.get("#SMTPPORT"))
        user, password = str(p.get("#SMTPUN")), str(p.get("#SMTPPW"))
        tlsMode = m.config.smtp_tls
        context = None
        if tlsMode != "off":
            try:
                context = clientOptions(host, m.config.tls_ca)
            except Exception as e:
                self.log.error("{bridge}: TLS set-up failed: {error}", bridge=m.name, error=e)
                message.close()
                return _failed(ATError(mail.TLS_FAILED))
        message.seek(0)
        sent: Deferred = Deferred()
        factory = _SenderFactory(
            m.reactor,
            user.encode("utf-8"),
            password.encode("utf-8") if user else None,
            str(p.get("#SENDERADDR")),
            [r.encode("utf-8") for r in recipients],
            message,
            sent,
            retries=0,
            timeout=mail.SERVER_TIMEOUT,
            contextFactory=context,
            heloFallback=not user and tlsMode != "required",
            requireAuthentication=bool(user),
            requireTransportSecurity=tlsMode == "required",
        )
        factory.domain = str(p.get("#DOMAIN") or "localhost").encode("idna")
        self.log.info(
            "{bridge}: sending mail to {recipients} through {host} port {port}",
            bridge=m.name, recipients=", ".join(recipients), host=host, port=port,
        )
        connector = self._connector = m.reactor.connectTCP(host, port, factory, m.config.connect_timeout)

        def sentOK(result: Any) -> None:
            refused = [a for a, code, _ in result[1] if code not in smtp.SUCCESS]
            self.log.info(
                "{bridge}: mail accepted for {count} recipients{refused}",
                bridge=m.name, count=result[0],
                refused="; refused: " + b", ".join(refused).decode("utf-8", "replace") if refused else "",
            )

        def notSent(f: Failure) -> None:
            code = errorCode(f, factory.connected)
            self.log.warn(
                "{bridge}: mail not sent (CME error {code}): {error}",
                bridge=m.name, code=code, error=f.getErrorMessage().strip(),
            )
            raise ATError(code)

        def cleanUp(result: object) -> object:
            if self._connector is connector:
                self._connector = None
            return result

        return sent.addCallbacks(sentOK, notSent).addBoth(cleanUp)

    def shutdown(self) -> None:
        if self._connector is not None:
            self._connector.disconnect()


def _failed(error: Exception) -> Deferred:
    d: Deferred = Deferred()
    d.errback(error)
    return d


def sendMessage(modem: Any, recipients: Sequence[str], subject: str, body: str) -> Deferred:
    """
    Send a plain-text mail with the bridge's SMTP parameters (server,
    sender, login) to C{recipients}: fires with L{None} once the server
    accepted it, or fails with an L{ATError} naming the CME error.
    """
    service: SMTP = modem.services[SMTP.name]
    p = modem.profile
    if not recipients or not p.get("#SMTPSERV") or not p.get("#SENDERADDR"):
        return _failed(ATError(BAD_VALUE))
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 16)
    spool.write(wireForm(service.message(list(recipients), [], subject, body)))
    return service.deliver(recipients, spool)
