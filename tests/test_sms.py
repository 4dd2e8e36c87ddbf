"""
Tests for L{tcpbridge.services.sms}: the C{> } prompt in text and PDU mode,
Ctrl-Z and ESC, C{+CMGS: <reference>}, and C{+CMS ERROR} when a message
cannot be sent or its sink fails.
"""

from typing import Any, List

from twisted.internet.defer import Deferred, fail
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge import smssink
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem
from tcpbridge.smssink import SINK_TIMEOUT, ShortMessage, Sink, SinkError
from tests.modemside import SerialSide

OK = b"\r\nOK\r\n"
PROMPT = b"\r\n> "
HELLO = b"0011000B916407281553F80000AA0AE8329BFD4697D9EC37"


def line(text: bytes) -> bytes:
    return b"\r\n" + text + b"\r\n"


class RecordingSink(Sink):
    """
    Keeps every message; answers with the class's C{outcome}: None (taken),
    an exception (failed) or a Deferred it never fires (no answer).
    """

    messages: List[ShortMessage] = []
    outcome: Any = None

    def deliver(self, message: ShortMessage) -> "Deferred[None]":
        self.messages.append(message)
        if isinstance(self.outcome, Exception):
            return fail(self.outcome)
        if isinstance(self.outcome, Deferred):
            return self.outcome
        d: Deferred = Deferred()
        d.callback(None)
        return d


class SMSTests(SerialSide, SynchronousTestCase):
    """
    Sending SMS from the host, to a recording sink.
    """

    def setUp(self) -> None:
        self.patch(smssink, "SINKS", dict(smssink.SINKS, record=RecordingSink))
        RecordingSink.messages = []
        RecordingSink.outcome = None
        self.makeModem(sms="record:")

    def makeModem(self, **config: Any) -> None:
        self.reactor = MemoryReactorClock()
        self.modem = Modem(BridgeConfig(**config), self.reactor)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.command(b"ATE0")

    def sent(self) -> List[ShortMessage]:
        return RecordingSink.messages

    def test_textMode(self) -> None:
        """
        In text mode AT+CMGS="number" answers the prompt; the text and Ctrl-Z send it: +CMGS with
        the reference, then OK.
        """
        self.assertEqual(self.command(b"AT+CMGF=1"), OK)
        self.assertEqual(self.command(b'AT+CMGS="+447700900123"'), PROMPT)
        self.assertEqual(self.send(b"Alarm: zone 3\x1a"), line(b"+CMGS: 1") + OK)
        [message] = self.sent()
        self.assertEqual(
            (message.to, message.text, message.encoding, message.reference, message.bridge),
            ("+447700900123", "Alarm: zone 3", "text", 1, "test"),
        )
        self.command(b'AT+CMGS="112"')
        self.assertEqual(self.send(b"again\x1a"), line(b"+CMGS: 2") + OK)

    def test_echoAndLines(self) -> None:
        """
        With echo on the text is echoed; CR starts a new line with a new prompt; backspace
        edits; the LF of the command's CR LF and of each line is not part of the text.
        """
        self.command(b"AT+CMGF=1;E1")
        self.assertEqual(self.send(b'AT+CMGS="123"\r\n'), b'AT+CMGS="123"\r' + PROMPT)
        self.assertEqual(self.send(b"one\r\ntwx\x08o"), b"one" + PROMPT + b"twx\x08o")
        self.assertEqual(self.send(b"\x1a"), line(b"+CMGS: 1") + OK)
        self.assertEqual(self.sent()[0].text, "one\ntwo")

    def test_escCancels(self) -> None:
        """
        ESC cancels: OK, nothing sent, and what follows is a command line again.
        """
        self.command(b"AT+CMGF=1")
        self.command(b'AT+CMGS="123"')
        self.assertEqual(self.send(b"never\x1bAT+CMGF?\r"), OK + line(b"+CMGF: 1") + OK)
        self.assertEqual(self.sent(), [])

    def test_commandsAfterCtrlZ(self) -> None:
        """
        Commands sent right after Ctrl-Z are answered after the message's answer.
        """
        self.command(b"AT+CMGF=1")
        self.command(b'AT+CMGS="123"')
        self.assertEqual(
            self.send(b"hi\x1aAT+CSQ\r"), line(b"+CMGS: 1") + OK + line(b"+CSQ: 20,0") + OK
        )

    def test_pduMode(self) -> None:
        """
        In PDU mode (the default) AT+CMGS=<length> takes the PDU in hex; it is decoded before it
        reaches the sink.
        """
        self.assertEqual(self.command(b"AT+CMGS=23"), PROMPT)
        self.assertEqual(self.send(HELLO + b"\x1a"), line(b"+CMGS: 1") + OK)
        [message] = self.sent()
        self.assertEqual(
            (message.to, message.text, message.encoding), ("+46708251358", "hellohello", "gsm7")
        )

    def test_pduUCS2(self) -> None:
        """
        A UCS-2 PDU reaches the sink as its text.
        """
        body = "Température 5 °C ⚠".encode("utf-16-be")
        pdu = "0001000B916407281553F80008%02X" % (len(body),) + body.hex()
        self.command(b"AT+CMGS=%d" % (len(pdu) // 2 - 1,))
        self.assertEqual(self.send(pdu.encode() + b"\x1a"), line(b"+CMGS: 1") + OK)
        self.assertEqual(self.sent()[0].text, "Température 5 °C ⚠")

    def test_badPDU(self) -> None:
        """
        A PDU that is not hex, not of the length given, or not an SMS-SUBMIT answers
        +CMS ERROR: 304 and is not sent.
        """
        for length, pdu in [(23, b"00zz"), (22, HELLO), (23, HELLO[:-2]), (1, b"0000")]:
            self.command(b"AT+CMGS=%d" % (length,))
            self.assertEqual(self.send(pdu + b"\x1a"), line(b"+CMS ERROR: 304"), pdu)
        self.assertEqual(self.sent(), [])
        self.assertEqual(self.command(b"AT+CMGS=0"), line(b"+CMS ERROR: 304"))

    def test_badNumber(self) -> None:
        """
        In text mode a destination that is not a number answers +CMS ERROR: 305 without a prompt.
        """
        self.command(b"AT+CMGF=1")
        self.assertEqual(self.command(b'AT+CMGS="call me"'), line(b"+CMS ERROR: 305"))
        self.assertEqual(self.command(b"AT+CMGS"), b"\r\nERROR\r\n")

    def test_tooLong(self) -> None:
        """
        A text longer than the line limit answers +CMS ERROR: 305 and is not sent.
        """
        self.command(b"AT+CMGF=1")
        self.command(b'AT+CMGS="123"')
        self.assertEqual(self.send(b"x" * 2000 + b"\x1a"), line(b"+CMS ERROR: 305"))
        self.assertEqual(self.sent(), [])

    def test_sinkFails(self) -> None:
        """
        A sink that fails answers +CMS ERROR: 500 and the line goes on.
        """
        RecordingSink.outcome = SinkError("down")
        self.command(b"AT+CMGF=1")
        self.command(b'AT+CMGS="123"')
        self.assertEqual(self.send(b"hi\x1a"), line(b"+CMS ERROR: 500"))
        self.assertEqual(self.command(b"AT"), OK)

    def test_sinkTimesOut(self) -> None:
        """
        A sink that does not answer within its time-out answers +CMS ERROR: 500.
        """
        RecordingSink.outcome = Deferred()
        self.command(b"AT+CMGF=1")
        self.command(b'AT+CMGS="123"')
        self.assertEqual(self.send(b"hi\x1aAT\r"), b"")
        self.reactor.advance(SINK_TIMEOUT + 1)
        self.assertEqual(self.written(), line(b"+CMS ERROR: 500") + OK)

    def test_logSink(self) -> None:
        """
        The default sink logs one line with the number and the text, for text messages and for
        7-bit and UCS-2 PDUs.
        """
        self.makeModem()
        self.command(b"AT+CMGF=1")
        self.command(b'AT+CMGS="+33612345678"')
        with capturedLogs() as events:
            self.assertEqual(self.send(b"Door open\x1a"), line(b"+CMGS: 1") + OK)
        body = "Porte ouverte ⚠".encode("utf-16-be")
        ucs2 = "0001000B913316325476F80008%02X" % (len(body),) + body.hex()
        self.command(b"AT+CMGF=0")
        with capturedLogs() as more:
            for pdu in (HELLO, ucs2.encode()):
                self.command(b"AT+CMGS=%d" % (len(pdu) // 2 - 1,))
                self.send(pdu + b"\x1a")
        logged = [
            (e["to"], e["text"]) for e in events + more if "SMS" in e.get("log_format", "")
        ]
        self.assertEqual(
            logged,
            [
                ("+33612345678", "Door open"),
                ("+46708251358", "hellohello"),
                ("+33612345678", "Porte ouverte ⚠"),
            ],
        )

    def test_lineLost(self) -> None:
        """
        The serial line lost at the prompt drops the message; the line comes back in command mode.
        """
        self.command(b"AT+CMGF=1")
        self.command(b'AT+CMGS="123"')
        self.send(b"half")
        self.modem.connectionLost(None)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        self.assertEqual(self.command(b"AT"), OK)
        self.assertEqual(self.sent(), [])

    def test_settings(self) -> None:
        """
        The settings firmware sends before an SMS are stored and read back.
        """
        for setting, shown in [
            (b'AT+CSCA="+447785016005",145', b'+CSCA: "+447785016005",145'),
            (b"AT+CNMI=2,1,0,0,0", b"+CNMI: 2,1,0,0,0"),
            (b"AT+CSMP=17,167,0,0", b"+CSMP: 17,167,0,0"),
            (b"AT+CMGF=1", b"+CMGF: 1"),
        ]:
            self.assertEqual(self.command(setting), OK, setting)
            query = setting.split(b"=")[0] + b"?"
            self.assertEqual(self.command(query), line(shown) + OK, query)
        self.assertEqual(self.command(b"AT+CMGS=?"), OK)


    def test_noLateAnswer(self) -> None:
        """
        A sink's answer after the serial line was lost is not written to the line that came back,
        and commands run.
        """
        RecordingSink.outcome = Deferred()
        self.command(b"AT+CMGF=1")
        self.command(b'AT+CMGS="123"')
        self.send(b"hi\x1a")
        self.modem.connectionLost(None)
        self.transport = StringTransport()
        self.modem.makeConnection(self.transport)
        RecordingSink.outcome.callback(None)
        self.assertEqual(self.written(), b"")
        self.assertEqual(self.command(b"AT"), OK)


class SinkConfigTests(SynchronousTestCase):
    """
    The C{sms} key and the SMTP settings of a mailto: sink, as the C{.ini}
    gives them.
    """

    def parse(self, lines: str) -> Any:
        from tcpbridge.config import parseConfig

        [bridge] = parseConfig("[bridge:a]\ndevice = pty:/tmp/x\n" + lines)
        return bridge

    def test_values(self) -> None:
        """
        log, mailto: with its server and sender, and HTTP(S) URLs are taken.
        """
        self.assertEqual(self.parse("").sms, "log")
        bridge = self.parse(
            "sms = mailto:alarms@example.com\nsmtpserv = mail.example.com\nsmtpport = 587\n"
            "smtpun = panel\nsmtppw = secret\nsenderaddr = panel@example.com\n"
        )
        self.assertEqual(
            (bridge.sms, bridge.parameters["smtpserv"], bridge.parameters["smtpport"]),
            ("mailto:alarms@example.com", "mail.example.com", 587),
        )
        self.assertEqual(
            (bridge.parameters["smtpun"], bridge.parameters["senderaddr"]),
            ("panel", "panel@example.com"),
        )
        for url in ("http://127.0.0.1:8080/sms", "https://alarms.example.com/in"):
            self.assertEqual(self.parse("sms = %s\n" % (url,)).sms, url)

    def test_errors(self) -> None:
        """
        An unknown sink, a mailto: without an address, a URL without a host and a bad SMTP setting
        are configuration errors naming the key.
        """
        from tcpbridge.config import ConfigError

        for lines, key in [
            ("sms = ftp://example.com/\n", "sms"),
            ("sms = mailto:nobody\n", "sms"),
            ("sms = http:///path\n", "sms"),
            ("senderaddr = two@ats@example.com\n", "senderaddr"),
            ("smtpport = 0\n", "smtpport"),
        ]:
            e = self.assertRaises(ConfigError, self.parse, lines)
            self.assertIn("[bridge:a] %s:" % (key,), str(e))

