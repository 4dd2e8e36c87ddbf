"""
Integration tests of the SMS sinks: the real service on a real pty sends
what the host typed at the C{> } prompt to a real SMTP server (Twisted's
own ESMTP server) or a real HTTP server (twisted.web), both started by the
test on loopback, port 0.
"""

import email
import json
import re
from email.message import Message
from typing import Any, Generator, List, Tuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.mail import smtp
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface import implementer

from tests.hostside import OK, BridgeHarness, freePort, poll

PROMPT = b"\r\n> "
ANSWER = re.compile(rb"\r\n(OK|\+CMS ERROR: \d+)\r\n$")
HELLO = b"0011000B916407281553F80000AA0AE8329BFD4697D9EC37"


def cmgs(reference: int) -> bytes:
    return b"\r\n+CMGS: %d\r\n" % (reference,) + OK


@implementer(smtp.IMessage)
class _Mail:
    def __init__(self, box: "MailBox", recipient: str) -> None:
        self.box = box
        self.recipient = recipient
        self.lines: List[bytes] = []

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> "Deferred[None]":
        self.box.received.append((self.recipient, email.message_from_bytes(b"\n".join(self.lines))))
        return succeed(None)

    def connectionLost(self) -> None:
        pass


@implementer(smtp.IMessageDelivery)
class MailBox:
    """
    An SMTP server's delivery: keeps each message, refuses recipients at
    C{refused.example}.
    """

    def __init__(self) -> None:
        self.received: List[Tuple[str, Message]] = []
        self.senders: List[str] = []

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> bytes:
        return b"Received: by the test"

    def validateFrom(self, helo: Any, origin: smtp.Address) -> smtp.Address:
        self.senders.append(str(origin))
        return origin

    def validateTo(self, user: smtp.User) -> Any:
        if str(user.dest).endswith("@refused.example"):
            raise smtp.SMTPBadRcpt(user)
        return lambda: _Mail(self, str(user.dest))


class Collector(Resource):
    """
    An HTTP endpoint keeping each JSON body POSTed to it, answering
    C{status}.
    """

    isLeaf = True

    def __init__(self, status: int = 200) -> None:
        Resource.__init__(self)
        self.status = status
        self.posted: List[Any] = []

    def render_POST(self, request: Any) -> bytes:
        self.posted.append(json.loads(request.content.read()))
        request.setResponseCode(self.status)
        return b"{}"


class SinkTests(BridgeHarness, TestCase):
    """
    Text and PDU messages reach a real SMTP server and a real HTTP server;
    a failing sink answers C{+CMS ERROR: 500}.
    """

    timeout = 60

    def mailServer(self) -> Tuple[MailBox, int]:
        box = MailBox()
        factory = smtp.SMTPFactory()
        factory.protocol = smtp.ESMTP
        factory.noisy = False
        build = factory.buildProtocol
        connections: List[Any] = []

        def buildProtocol(address: Any) -> Any:
            protocol = build(address)
            protocol.delivery = box
            connections.append(protocol)
            return protocol

        def closed() -> "Deferred[object]":
            # The client may still be saying QUIT when the host has its answer.
            for protocol in connections:
                if protocol.transport.connected:
                    protocol.transport.abortConnection()
            return poll(
                reactor, lambda: not any(p.transport.connected for p in connections), "closed"
            )

        factory.buildProtocol = buildProtocol  # type: ignore[method-assign]
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(closed)
        self.addCleanup(port.stopListening)
        return box, port.getHost().port

    def webServer(self, status: int = 200) -> Tuple[Collector, int]:
        collector = Collector(status)
        site = Site(collector)
        site.noisy = False
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return collector, port.getHost().port

    @inlineCallbacks
    def mailBridge(self, to: str) -> Generator[Deferred, Any, Tuple[MailBox, Any]]:
        """
        A test SMTP server, and a bridge (echo off) whose sink mails C{to} through it.
        """
        box, port = self.mailServer()
        service, host = self.startBridge(
            sms="mailto:" + to,
            parameters={"smtpserv": "127.0.0.1", "smtpport": port, "senderaddr": "panel@example.com"},
        )
        yield self.hello(host)
        return box, host

    @inlineCallbacks
    def sendText(self, host: Any, number: bytes, text: bytes) -> Generator[Deferred, Any, bytes]:
        """
        Send a text-mode SMS; return the answer after Ctrl-Z.
        """
        self.assertEqual((yield host.command(b"AT+CMGF=1")), OK)
        host.write(b'AT+CMGS="%s"\r\n' % (number,))
        self.assertEqual((yield host.until(PROMPT)), PROMPT)
        host.write(text + b"\x1a")
        return (yield self.answer(host))

    @inlineCallbacks
    def answer(self, host: Any) -> Generator[Deferred, Any, bytes]:
        """
        The answer to a message sent: +CMGS and OK, or +CMS ERROR.
        """
        yield poll(reactor, lambda: ANSWER.search(host.pending), "the answer to Ctrl-Z")
        return (yield host.count(len(host.pending)))

    @inlineCallbacks
    def test_mailto(self) -> Generator[Deferred, Any, None]:
        """
        A text message and a 7-bit PDU message each arrive as an e-mail from senderaddr to the
        mailto: address, the number in the subject and the text in the body.
        """
        box, host = yield self.mailBridge("alarms@example.com")
        answer = yield self.sendText(host, b"+447700900123", b"Intruder: zone 4")
        self.assertEqual(answer, cmgs(1))
        [(recipient, mail)] = box.received
        self.assertEqual(recipient, "alarms@example.com")
        self.assertEqual(box.senders, ["panel@example.com"])
        self.assertEqual(mail["To"], "alarms@example.com")
        self.assertIn("+447700900123", mail["Subject"])
        self.assertEqual(mail.get_payload().strip(), "Intruder: zone 4")

        self.assertEqual((yield host.command(b"AT+CMGF=0")), OK)
        host.write(b"AT+CMGS=23\r")
        yield host.until(PROMPT)
        host.write(HELLO + b"\x1a")
        self.assertEqual((yield self.answer(host)), cmgs(2))
        self.assertEqual(box.received[1][1].get_payload().strip(), "hellohello")
        self.assertIn("+46708251358", box.received[1][1]["Subject"])

    @inlineCallbacks
    def test_mailRefused(self) -> Generator[Deferred, Any, None]:
        """
        An SMTP server that refuses the recipient makes the send answer +CMS ERROR: 500.
        """
        box, host = yield self.mailBridge("nobody@refused.example")
        answer = yield self.sendText(host, b"123", b"lost")
        self.assertEqual(answer, b"\r\n+CMS ERROR: 500\r\n")
        self.assertEqual(box.received, [])
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_http(self) -> Generator[Deferred, Any, None]:
        """
        A text message and a UCS-2 PDU message each arrive as a JSON POST with the number, the text,
        its encoding and the reference.
        """
        collector, port = self.webServer()
        service, host = self.startBridge(sms="http://127.0.0.1:%d/sms" % (port,))
        yield self.hello(host)
        answer = yield self.sendText(host, b"+33612345678", b"Flood sensor 2")
        self.assertEqual(answer, cmgs(1))
        body = "Gel: -3 °C ❄".encode("utf-16-be")
        pdu = b"0001000B913316325476F80008%02X" % (len(body),) + body.hex().encode()
        self.assertEqual((yield host.command(b"AT+CMGF=0")), OK)
        host.write(b"AT+CMGS=%d\r\n" % (len(pdu) // 2 - 1,))
        yield host.until(PROMPT)
        host.write(pdu + b"\x1a")
        self.assertEqual((yield self.answer(host)), cmgs(2))
        first, second = collector.posted
        self.assertEqual(
            (first["to"], first["text"], first["encoding"], first["reference"], first["bridge"]),
            ("+33612345678", "Flood sensor 2", "text", 1, "test"),
        )
        self.assertEqual((second["to"], second["text"], second["encoding"]),
                         ("+33612345678", "Gel: -3 °C ❄", "ucs2"))

    @inlineCallbacks
    def test_httpFails(self) -> Generator[Deferred, Any, None]:
        """
        An HTTP sink answering 500 makes the send answer +CMS ERROR: 500.
        """
        collector, port = self.webServer(status=500)
        service, host = self.startBridge(sms="http://127.0.0.1:%d/sms" % (port,))
        yield self.hello(host)
        answer = yield self.sendText(host, b"123", b"x")
        self.assertEqual(answer, b"\r\n+CMS ERROR: 500\r\n")
        self.assertEqual(len(collector.posted), 1)
        self.assertEqual((yield host.command(b"AT")), OK)

    @inlineCallbacks
    def test_httpNotListening(self) -> Generator[Deferred, Any, None]:
        """
        An HTTP sink whose server is not there makes the send answer +CMS ERROR: 500.
        """
        service, host = self.startBridge(sms="http://127.0.0.1:%d/sms" % (freePort(),))
        yield self.hello(host)
        answer = yield self.sendText(host, b"123", b"x")
        self.assertEqual(answer, b"\r\n+CMS ERROR: 500\r\n")
