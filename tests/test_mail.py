"""
Tests for L{tcpbridge.mail} and the mail services on a memory reactor: the
host's body spooled in SMTP's wire form, the stored mails typed as text,
and the mail server's 3-minute silence on a fake clock.
"""

import io
from typing import Any, List

from twisted.internet.error import ConnectionLost
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.modemside import SerialSide
from tcpbridge import mail
from tcpbridge.config import BridgeConfig
from tcpbridge.mail import BodySpool, buildMessage, wireForm
from tcpbridge.modem import Modem
from tcpbridge.services.smtp import sendMessage

OK = b"\r\nOK\r\n"
WAITING = b"\r\nOk_Info_WaitingForData\r\n"


def spooled(*pieces: bytes) -> "tuple[bytes, Any]":
    """
    Feed C{pieces} to a L{BodySpool} whose header is C{H: v}; return what
    it wrote and what followed the end mark (L{None}: no end mark yet).
    """
    out = io.BytesIO()
    spool = BodySpool(out, lambda: b"H: v\r\n\r\n")
    rest = None
    for piece in pieces:
        if rest is None:
            rest = spool.feed(piece)
        else:
            rest += piece
    return out.getvalue(), rest


class BodySpoolTests(SynchronousTestCase):
    """
    Tests for L{BodySpool}: the end mark, dot-stuffing and the header,
    wherever the host's reads are cut.
    """

    BODY = b"one\r\n.two\r\n..\r\n. \r\nlast\r\n.\r\nAT\r"
    WIRE = b"H: v\r\n\r\none\r\n..two\r\n...\r\n.. \r\nlast\r\n"

    def test_whole(self) -> None:
        """
        The body is written after the header, dot-stuffed; the end mark is
        not part of it and what follows it is given back.
        """
        self.assertEqual(spooled(self.BODY), (self.WIRE, b"AT\r"))

    def test_everyCut(self) -> None:
        """
        Cut into two reads anywhere, or into single bytes, the body gives
        the same result.
        """
        for i in range(len(self.BODY)):
            self.assertEqual(spooled(self.BODY[:i], self.BODY[i:]), (self.WIRE, b"AT\r"), i)
        bytewise = [self.BODY[i : i + 1] for i in range(len(self.BODY))]
        out, rest = spooled(*bytewise[: self.BODY.index(b"\r\n.\r\n") + 5])
        self.assertEqual((out, rest), (self.WIRE, b""))

    def test_ownHeader(self) -> None:
        """
        A body that starts with CR LF carries its own header: none is
        built, and the CR LF is dropped.
        """
        self.assertEqual(spooled(b"\r", b"\nX: y\r\n\r\nbody\r\n.\r\n"), (b"X: y\r\n\r\nbody\r\n", b""))

    def test_empty(self) -> None:
        """
        An end mark at once gives a mail of the header alone.
        """
        self.assertEqual(spooled(b".\r\n"), (b"H: v\r\n\r\n", b""))

    def test_wireForm(self) -> None:
        """
        L{wireForm} gives CR LF line ends and doubles a leading dot.
        """
        self.assertEqual(wireForm(b"a\n.b\r\n.\nc"), b"a\r\n..b\r\n..\r\nc\r\n")


class MessageTests(SynchronousTestCase):
    """
    Tests for L{buildMessage}.
    """

    def test_header(self) -> None:
        """
        The header names the sender, the recipients and the subject, with
        a date and a message id in the given domain; a Latin-1 subject
        typed by the host is encoded.
        """
        raw = buildMessage("Meter", "m@x.example", ["a@x.example"], [], "T\xe9st", "x.example", 0, "hi")
        self.assertIn(b"From: Meter <m@x.example>\r\n", raw)
        self.assertIn(b"To: a@x.example\r\n", raw)
        self.assertNotIn(b"Cc:", raw)
        self.assertIn(b"Subject: =?utf-8?q?T=C3=A9st?=\r\n", raw)
        self.assertIn(b"Date: ", raw)
        self.assertIn(b"@x.example>\r\n", raw)
        self.assertTrue(raw.endswith(b"\r\n\r\nhi\r\n"))

    def test_addresses(self) -> None:
        """
        Up to ten addresses are accepted; an eleventh or a malformed one
        is refused.
        """
        self.assertEqual(mail.addresses(" a@b.c , d@e.f"), "a@b.c,d@e.f")
        self.assertRaises(ValueError, mail.addresses, ",".join(["a@b.c"] * 11))
        self.assertRaises(ValueError, mail.addresses, "a@b.c,nobody")


class MailModemTests(SerialSide, SynchronousTestCase):
    """
    The mail commands on a memory reactor.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        for line in (
            b"ATE0",
            b"AT+CMEE=1",
            b'AT#SMTPSERV="192.0.2.25"',
            b'AT#SENDERADDR="m7@x.example"',
            b'AT#REC1="ops@x.example"',
        ):
            self.command(line)

    def smtpServer(self, greeting: bytes = b"220 mail ESMTP\r\n") -> Any:
        """
        The SMTP connection the bridge asked for, made: its protocol,
        greeted, and its transport.
        """
        host, port, factory, timeout, bind = self.reactor.tcpClients[-1]
        self.assertEqual((host, port), ("192.0.2.25", 25))
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(greeting)
        return protocol, transport

    def pull(self, transport: StringTransport) -> None:
        """
        Let the client's message producer write all it has.
        """
        while transport.producer is not None:
            transport.producer.resumeProducing()

    def test_serverSilent(self) -> None:
        """
        A server that stops answering for 3 minutes: CME error 37964, and
        the line is free again.
        """
        self.assertEqual(self.command(b"AT#SENDMAIL1"), b"")
        protocol, transport = self.smtpServer()
        self.assertTrue(transport.value().startswith(b"EHLO "))
        self.reactor.advance(mail.SERVER_TIMEOUT - 1)
        self.assertEqual(self.written(), b"")
        self.reactor.advance(1)
        self.assertEqual(self.written(), b"\r\n#CME ERROR: 37964\r\n")
        self.assertEqual(self.command(b"AT"), OK)

    def test_pop3Silent(self) -> None:
        """
        A POP3 server that stops answering for 3 minutes after its greeting:
        CME error 37964.
        """
        self.command(b'AT#POP3SERV="192.0.2.110"')
        self.assertEqual(self.command(b"AT#GETMAIL"), b"")
        host, port, factory, timeout, bind = self.reactor.tcpClients[-1]
        self.assertEqual((host, port), ("192.0.2.110", 110))
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.reactor.advance(0)
        protocol.dataReceived(b"+OK ready\r\n")
        self.assertEqual(transport.value(), b"CAPA\r\n")
        self.reactor.advance(mail.SERVER_TIMEOUT)
        protocol.connectionLost(None)
        self.assertEqual(self.written(), b"\r\n#CME ERROR: 37964\r\n")

    def test_recAdd(self) -> None:
        """
        C{AT#REC1ADD} takes addresses a line each, ended by Ctrl-Z (the LF
        after the command's CR dropped); the rest of the read is a command.
        """
        self.assertEqual(self.send(b"AT#REC1ADD\r\n"), b"")
        self.assertEqual(self.send(b"a@x.example\r\nb@x.example\r\n"), b"")
        self.assertEqual(self.send(b"\x1aAT#REC1?\r"), OK + b'\r\n#REC1: "a@x.example,b@x.example"\r\n' + OK)

    def test_bodyTyped(self) -> None:
        """
        C{AT#BODY1} takes text over several lines, ended by Ctrl-Z, and
        echoes it when echo is on; a bad address list is refused whole.
        """
        self.command(b"ATE1")
        self.assertEqual(self.send(b"AT#BODY1\rline 1\r\nline 2\x1a"), b"AT#BODY1\rline 1\r\nline 2" + OK)
        self.assertEqual(self.modem.profile.get("#BODY1"), "line 1\r\nline 2")
        self.send(b"AT#REC2ADD\rnot an address\x1a")
        self.assertEqual(self.modem.profile.get("#REC2"), "")

    def test_putmailWaitsForTheServer(self) -> None:
        """
        C{AT#PUTMAIL} answers Ok_Info_WaitingForData, takes the body up to
        the end mark, then sends it; OK comes once the server accepted it,
        and what followed the end mark is then a command.
        """
        self.assertEqual(self.send(b"AT#PUTMAIL\r\n"), WAITING)
        self.assertEqual(self.send(b"hello\r\n.\r\nAT\r"), b"")
        protocol, transport = self.smtpServer()
        for answer in (b"250 ok", b"250 ok", b"250 ok", b"354 go on"):
            protocol.dataReceived(answer + b"\r\n")
        self.pull(transport)
        self.assertEqual(self.written(), b"")
        sent = transport.value()
        self.assertIn(b"\r\n\r\nhello\r\n.\r\n", sent)
        protocol.dataReceived(b"250 accepted\r\n")
        self.assertEqual(self.written(), OK + OK)

    def test_lostMidTransfer(self) -> None:
        """
        A connection lost while the message is being sent answers 38103.
        """
        self.send(b"AT#PUTMAIL\r")
        self.send(b"hello\r\n.\r\n")
        protocol, transport = self.smtpServer()
        for answer in (b"250 ok", b"250 ok", b"250 ok", b"354 go on"):
            protocol.dataReceived(answer + b"\r\n")
        self.written()
        protocol.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.written(), b"\r\n#CME ERROR: 38103\r\n")
        self.assertEqual(self.command(b"AT"), OK)

    def test_sendMessage(self) -> None:
        """
        L{sendMessage} sends through the bridge's SMTP parameters, for
        another service (the SMS sink), and fires once accepted.
        """
        results: List[Any] = []
        sendMessage(self.modem, ["sms@x.example"], "SMS from +331", "hello").addBoth(results.append)
        protocol, transport = self.smtpServer()
        for answer in (b"250 ok", b"250 ok", b"250 ok", b"354 go on"):
            protocol.dataReceived(answer + b"\r\n")
        self.pull(transport)
        protocol.dataReceived(b"250 accepted\r\n")
        self.assertEqual(results, [None])
        self.assertIn(b"RCPT TO:<sms@x.example>", transport.value())
        self.assertIn(b"Subject: SMS from +331\r\n", transport.value())

    def test_notConfigured(self) -> None:
        """
        Without a server, sender or recipient, C{AT#SENDMAIL1} answers
        34882 and opens nothing.
        """
        self.command(b'AT#SMTPSERV=""')
        self.assertEqual(self.command(b"AT#SENDMAIL1"), b"\r\n#CME ERROR: 34882\r\n")
        self.assertEqual(self.reactor.tcpClients, [])
