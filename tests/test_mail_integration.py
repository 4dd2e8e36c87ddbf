"""
Integration tests on the real reactor for the mail services: the real
bridge on a C{pty:} device, the test playing the host, and Twisted's own
ESMTP and POP3 servers (L{tests.mailservers}) on 127.0.0.1.
"""

import base64
import email
import email.policy
import os
from typing import Any, Generator, List

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.trial.unittest import TestCase

from tests.hostside import OK, WAITING, BridgeHarness, Receiver
from tests.mailservers import PASSWORD, USER, Mailbox, POP3Server, SMTPServer
from tests.test_tls_integration import Authority

NO_MAIL = b"\r\nOk_Info_NoMail\r\n" + OK
MAIL = b"\r\nOk_Info_Mail\r\n"
END = b"\r\n.\r\n"


def cme(code: int) -> bytes:
    return b"\r\n#CME ERROR: %d\r\n" % (code,)


class MailHarness(BridgeHarness):
    """
    A bridge with C{+CMEE=1} and echo off, and mail servers on loopback.
    """

    timeout = 60

    def listen(self, factory: Any) -> int:  # type: ignore[override]
        """
        Start a mail server on 127.0.0.1; at clean-up, wait until its
        connections have closed, then stop it.
        """
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)  # type: ignore[attr-defined]
        self.addCleanup(factory.idle)  # type: ignore[attr-defined]
        return port.getHost().port  # type: ignore[no-any-return]

    @inlineCallbacks
    def bridge(self, *lines: bytes, **config: Any) -> Generator[Deferred, Any, Receiver]:
        _, host = self.startBridge(**config)
        for line in (b"ATE0",) + lines:
            response = yield host.command(line)
            self.assertTrue(response.endswith(OK), (line, response))  # type: ignore[attr-defined]
        return host

    def certificates(self) -> Any:
        """
        A CA (its PEM file's path) and a server certificate for 127.0.0.1.
        """
        directory = os.path.abspath(self.mktemp())  # type: ignore[attr-defined]
        os.makedirs(directory)
        ca = Authority("ca", directory)
        _, _, identity = ca.issue("server", "localhost", names=["localhost"], addresses=["127.0.0.1"])
        return ca.path, identity.options()

    def smtpLines(self, port: int, *extra: bytes) -> List[bytes]:
        return [
            b"AT+CMEE=1",
            b'AT#SMTPSERV="127.0.0.1"',
            b"AT#SMTPPORT=%d" % (port,),
            b'AT#DOMAIN="meters.example.com"',
            b'AT#SENDERNAME="Meter 7"',
            b'AT#SENDERADDR="m7@meters.example.com"',
        ] + list(extra)


class SendMailTests(MailHarness, TestCase):
    """
    C{AT#SENDMAIL1} and C{AT#PUTMAIL} through Twisted's ESMTP server.
    """

    @inlineCallbacks
    def test_sendmailHeaders(self) -> Generator[Deferred, Any, None]:
        """
        C{AT#SENDMAIL1} with three recipients and a Cc answers OK once the
        server accepted the mail, which arrives for each of them with
        From, To, Cc, an encoded Subject, Date and Message-ID.
        """
        server = SMTPServer()
        port = self.listen(server)
        host = yield self.bridge(*self.smtpLines(
            port,
            b'AT#REC1="a@x.example,b@x.example,c@x.example"',
            b'AT#CCREC1="boss@x.example"',
            b'AT#SUBJ1="Alarm \xc3\xbcber 9000"',
            b'AT#BODY1="Door 3 open"',
        ))
        self.assertEqual((yield host.command(b"AT#SENDMAIL1")), OK)
        recipients = sorted(r for _, r, _ in server.messages)
        self.assertEqual(recipients, ["a@x.example", "b@x.example", "boss@x.example", "c@x.example"])
        self.assertEqual(server.helos, [b"meters.example.com"])
        origin, _, raw = server.messages[0]
        self.assertEqual(origin, "m7@meters.example.com")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(message["From"], "Meter 7 <m7@meters.example.com>")
        self.assertEqual(message["To"], "a@x.example, b@x.example, c@x.example")
        self.assertEqual(message["Cc"], "boss@x.example")
        self.assertEqual(message["Subject"], "Alarm \xfcber 9000")
        self.assertIn(b"Subject: Alarm =?utf-8?q?=C3=BCber?= 9000\r\n", raw)
        self.assertIsNotNone(message["Date"])
        self.assertTrue(message["Message-ID"].endswith("@meters.example.com>"))
        self.assertEqual(message.get_content(), "Door 3 open\r\n")

    @inlineCallbacks
    def test_putmailMIME(self) -> Generator[Deferred, Any, None]:
        """
        C{AT#PUTMAIL} with a 5 MB MIME body carrying its own header (it
        starts with CR LF) arrives byte for byte, lines that start with a
        dot included, and the bridge answers OK once it is accepted.
        """
        server = SMTPServer()
        port = self.listen(server)
        host = yield self.bridge(*self.smtpLines(port, b'AT#REC1="ops@x.example"'))
        attachment = base64.encodebytes(os.urandom(3_700_000)).replace(b"\n", b"\r\n")
        body = (
            b"From: m7@meters.example.com\r\nTo: ops@x.example\r\nSubject: log\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BOUND\r\n\r\n"
            b"--BOUND\r\nContent-Type: text/plain\r\n\r\n.leading dot\r\n..two dots\r\n"
            b". not the end\r\n.\r\n\r\n"[:-5] + b"\r\n"
            b"--BOUND\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--BOUND--\r\n"
        )
        self.assertGreater(len(body), 5_000_000)
        host.write(b"AT#PUTMAIL\r\n")
        self.assertEqual((yield host.until(WAITING)), WAITING)
        host.write(b"\r\n")  # the body carries its own header
        for i in range(0, len(body), 65536):
            host.write(body[i : i + 65536])
        host.write(b".\r\n")
        self.assertEqual((yield host.result(timeout=60)), OK)
        [(_, recipient, raw)] = server.messages
        self.assertEqual(recipient, "ops@x.example")
        self.assertEqual(raw, body)
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_authAndStartTLS(self) -> Generator[Deferred, Any, None]:
        """
        With C{SMTPUN} set, the bridge starts TLS (the server offers
        STARTTLS; its certificate is checked against C{tls_ca}) and logs
        in before it sends.
        """
        caPath, options = self.certificates()
        server = SMTPServer(tls=options, anonymous=False)
        port = self.listen(server)
        host = yield self.bridge(
            *self.smtpLines(
                port, b'AT#REC1="ops@x.example"', b'AT#SMTPUN="%s"' % (USER.encode(),),
                b'AT#SMTPPW="%s"' % (PASSWORD.encode(),), b"AT#SMTPAUTH=1",
            ),
            tls_ca=caPath,
        )
        self.assertEqual((yield host.command(b"AT#SENDMAIL1")), OK)
        self.assertEqual(len(server.messages), 1)
        self.assertEqual(server.logins, [USER.encode()])

    @inlineCallbacks
    def test_untrustedCertificate(self) -> Generator[Deferred, Any, None]:
        """
        A server whose certificate the bridge cannot check (no C{tls_ca},
        a CA the system does not trust) answers 38104 and gets neither
        password nor mail.
        """
        _, options = self.certificates()
        server = SMTPServer(tls=options, anonymous=False)
        port = self.listen(server)
        host = yield self.bridge(*self.smtpLines(
            port, b'AT#REC1="ops@x.example"', b'AT#SMTPUN="%s"' % (USER.encode(),),
            b'AT#SMTPPW="%s"' % (PASSWORD.encode(),),
        ))
        self.assertEqual((yield host.command(b"AT#SENDMAIL1")), cme(38104))
        self.assertEqual((server.logins, server.messages), ([], []))

    @inlineCallbacks
    def test_refusedPassword(self) -> Generator[Deferred, Any, None]:
        """
        A password the server refuses answers 38100 and sends nothing.
        """
        server = SMTPServer(anonymous=False)
        port = self.listen(server)
        host = yield self.bridge(*self.smtpLines(
            port, b'AT#REC1="ops@x.example"', b'AT#SMTPUN="%s"' % (USER.encode(),),
            b'AT#SMTPPW="wrong"',
        ))
        self.assertEqual((yield host.command(b"AT#SENDMAIL1")), cme(38100))
        self.assertEqual(server.messages, [])
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_refusedRecipient(self) -> Generator[Deferred, Any, None]:
        """
        A recipient the server refuses answers 38101.
        """
        server = SMTPServer()
        server.refuse.append("nobody@x.example")
        port = self.listen(server)
        host = yield self.bridge(*self.smtpLines(port, b'AT#REC1="nobody@x.example"'))
        self.assertEqual((yield host.command(b"AT#SENDMAIL1")), cme(38101))
        self.assertEqual(server.messages, [])

    @inlineCallbacks
    def test_tlsRequired(self) -> Generator[Deferred, Any, None]:
        """
        With C{smtp_tls = required}, a server that does not offer STARTTLS
        is refused with 38104 and nothing is sent.
        """
        server = SMTPServer()
        port = self.listen(server)
        host = yield self.bridge(*self.smtpLines(port, b'AT#REC1="ops@x.example"'), smtp_tls="required")
        self.assertEqual((yield host.command(b"AT#SENDMAIL1")), cme(38104))
        self.assertEqual(server.messages, [])

    @inlineCallbacks
    def test_connectRefused(self) -> Generator[Deferred, Any, None]:
        """
        A server that cannot be reached answers 38016.
        """
        from tests.hostside import freePort

        host = yield self.bridge(*self.smtpLines(freePort(), b'AT#REC1="ops@x.example"'))
        self.assertEqual((yield host.command(b"AT#SENDMAIL1")), cme(38016))


def message(n: int) -> bytes:
    return (
        b"From: ops@x.example\r\nTo: m7@meters.example.com\r\nSubject: command %d\r\n\r\n"
        b"SET RATE %d\r\n.hidden\r\n.\r\nlast line\r\n" % (n, n)
    )


#: message(n) as the host receives it after Ok_Info_Mail (header mode 1).
def received(n: int) -> bytes:
    return (
        b"From: ops@x.example\r\nTo: m7@meters.example.com\r\nSubject: command %d\r\n\r\n"
        b"SET RATE %d\r\n..hidden\r\n..\r\nlast line" % (n, n)
    ) + END + OK


class _Scripted(Receiver):
    """
    A POP3 server that answers a script, then breaks the connection in
    the middle of the message.
    """

    def connectionMade(self) -> None:
        self.transport.write(b"+OK ready\r\n")

    def dataReceived(self, data: bytes) -> None:
        for line in data.split(b"\r\n"):
            command = line.split(b" ")[0].upper()
            if command == b"CAPA":
                self.transport.write(b"+OK\r\nUSER\r\n.\r\n")
            elif command in (b"USER", b"PASS"):
                self.transport.write(b"+OK\r\n")
            elif command == b"STAT":
                self.transport.write(b"+OK 1 100\r\n")
            elif command == b"RETR":
                self.transport.write(b"+OK\r\nSubject: cut\r\n\r\nfirst line\r\n")
                self.transport.loseConnection()
            elif command == b"DELE":
                self.deleted = True


class GetMailTests(MailHarness, TestCase):
    """
    C{AT#GETMAIL} through Twisted's POP3 server.
    """

    def popLines(self, port: int, *extra: bytes) -> List[bytes]:
        return [
            b"AT+CMEE=1",
            b'AT#POP3SERV="127.0.0.1"',
            b"AT#POP3PORT=%d" % (port,),
            b'AT#POP3UN="%s"' % (USER.encode(),),
            b'AT#POP3PW="%s"' % (PASSWORD.encode(),),
        ] + list(extra)

    @inlineCallbacks
    def test_empty(self) -> Generator[Deferred, Any, None]:
        """
        An empty mailbox answers Ok_Info_NoMail, then OK.
        """
        server = POP3Server(Mailbox())
        host = yield self.bridge(*self.popLines(self.listen(server)))
        self.assertEqual((yield host.command(b"AT#GETMAIL")), NO_MAIL)
        self.assertEqual(server.logins, [USER.encode()])

    @inlineCallbacks
    def test_threeInOrder(self) -> Generator[Deferred, Any, None]:
        """
        Three calls return the three messages in order (APOP login), each
        with its header, dot-stuffed, ended by the end mark, and deleted
        on the server once sent; a fourth finds the box empty.
        """
        box = Mailbox([message(1), message(2), message(3)])
        host = yield self.bridge(*self.popLines(self.listen(POP3Server(box))))
        for n in (1, 2, 3):
            self.assertEqual((yield host.command(b"AT#GETMAIL")), MAIL + received(n))
            self.assertEqual(box.left, [message(m) for m in range(n + 1, 4)])
        self.assertEqual((yield host.command(b"AT#GETMAIL")), NO_MAIL)

    @inlineCallbacks
    def test_bodyOnly(self) -> Generator[Deferred, Any, None]:
        """
        With C{POP3HEADERMODE} 0, the host gets the body only (USER and
        PASS login, the server offering no APOP).
        """
        box = Mailbox([message(1)])
        host = yield self.bridge(*self.popLines(self.listen(POP3Server(box, apop=False)), b"AT#POP3HEADERMODE=0"))
        self.assertEqual(
            (yield host.command(b"AT#GETMAIL")),
            MAIL + b"SET RATE 1\r\n..hidden\r\n..\r\nlast line" + END + OK,
        )
        self.assertEqual(box.left, [])

    @inlineCallbacks
    def test_stls(self) -> Generator[Deferred, Any, None]:
        """
        A server that offers STLS is talked to over TLS, its certificate
        checked against C{tls_ca}.
        """
        caPath, options = self.certificates()
        server = POP3Server(Mailbox([message(1)]), apop=False, tls=options)
        host = yield self.bridge(*self.popLines(self.listen(server)), tls_ca=caPath)
        self.assertEqual((yield host.command(b"AT#GETMAIL")), MAIL + received(1))
        self.assertEqual(list(server.started.values()), [True])

    @inlineCallbacks
    def test_wrongPassword(self) -> Generator[Deferred, Any, None]:
        """
        A password the server refuses answers 38100, and the box is left
        as it was.
        """
        box = Mailbox([message(1)])
        host = yield self.bridge(*self.popLines(self.listen(POP3Server(box)), b'AT#POP3PW="wrong"'))
        self.assertEqual((yield host.command(b"AT#GETMAIL")), cme(38100))
        self.assertEqual(box.left, [message(1)])

    @inlineCallbacks
    def test_lostMidMessage(self) -> Generator[Deferred, Any, None]:
        """
        A connection lost in the middle of the message: what came, the end
        mark, then 38103; the message is not deleted.
        """
        from twisted.internet.protocol import Factory

        scripts: List[_Scripted] = []

        class Scripted(Factory):
            def buildProtocol(self, addr: Any) -> _Scripted:
                scripts.append(_Scripted(reactor, "pop3"))
                return scripts[-1]

        port = reactor.listenTCP(0, Scripted(), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        host = yield self.bridge(*self.popLines(port.getHost().port))
        self.assertEqual(
            (yield host.command(b"AT#GETMAIL")),
            MAIL + b"Subject: cut\r\n\r\nfirst line" + END + cme(38103),
        )
        self.assertFalse(getattr(scripts[0], "deleted", False))
        self.assertEqual((yield host.command(b"AT")), OK)


class ReplayTests(MailHarness, TestCase):
    """
    A device's mail sequence replayed byte for byte, checked reply by reply.
    """

    @inlineCallbacks
    def test_alarmPanel(self) -> Generator[Deferred, Any, None]:
        """
        An alarm panel's sequence (echo on, quoted parameters,
        C{AT#SMTPAUTH=1}, C{AT#PUTMAIL} with a multipart body ended by
        CR LF . CR LF) gets exactly the modem's answers, and the mail
        arrives with the built header and the body unchanged.
        """
        server = SMTPServer(anonymous=False)
        port = self.listen(server)
        _, host = self.startBridge()
        body = (
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain\r\n\r\nZONE 4 ALARM\r\n.\tstill text\r\n"
            b"--b1\r\nContent-Type: text/csv\r\n\r\nt,zone\r\n1,4\r\n--b1--\r\n"
        )
        script = [
            (b"AT\r", b"AT\r" + OK),
            (b"AT+CMEE=1\r", b"AT+CMEE=1\r" + OK),
            (b'AT#SMTPSERV="127.0.0.1"\r', b'AT#SMTPSERV="127.0.0.1"\r' + OK),
            (b'AT#SMTPPORT="%d"\r' % (port,), b'AT#SMTPPORT="%d"\r' % (port,) + OK),
            (b"AT#SMTPAUTH=1\r", b"AT#SMTPAUTH=1\r" + OK),
            (b'AT#SMTPUN="%s"\r' % (USER.encode(),), b'AT#SMTPUN="%s"\r' % (USER.encode(),) + OK),
            (b'AT#SMTPPW="%s"\r' % (PASSWORD.encode(),), b'AT#SMTPPW="%s"\r' % (PASSWORD.encode(),) + OK),
            (b'AT#DOMAIN="panel.example"\r', b'AT#DOMAIN="panel.example"\r' + OK),
            (b'AT#SENDERADDR="panel@panel.example"\r', b'AT#SENDERADDR="panel@panel.example"\r' + OK),
            (b'AT#REC1="ops@x.example"\r', b'AT#REC1="ops@x.example"\r' + OK),
            (b'AT#SUBJ1="ALARM"\r', b'AT#SUBJ1="ALARM"\r' + OK),
            (b"AT#PUTMAIL\r\n", b"AT#PUTMAIL\r" + WAITING),
            (body + b".\r\n", OK),
            (b"AT#VSMTP\r", None),
        ]
        for sent, expected in script:
            host.write(sent)
            if expected is None:
                reply = yield host.result()
                self.assertIn(b'\r\n#SMTPAUTH: 1\r\n', reply)
            elif expected.endswith(WAITING):
                self.assertEqual((yield host.until(WAITING)), expected, sent)
            else:
                self.assertEqual((yield host.result()), expected, sent)
        [(origin, recipient, raw)] = server.messages
        self.assertEqual((origin, recipient), ("panel@panel.example", "ops@x.example"))
        header, _, rest = raw.partition(b"\r\n\r\n")
        self.assertIn(b"Subject: ALARM", header)
        self.assertEqual(rest, body)
