"""
Where the SMS a host sends go: the bridge's C{sms} sink.

A sink is named by a URL-like text in the C{.ini}, one kind per scheme:
C{log} (a log line), C{mailto:ADDRESS} (an e-mail, through the mail
service's SMTP client) and C{http://...} or C{https://...} (a JSON POST, through
treq).  Each delivers one L{ShortMessage} and fires once it has been
handed over, or fails.
"""

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

if TYPE_CHECKING:
    from tcpbridge.modem import Modem

#: Seconds a sink may take to take a message before the send fails.
SINK_TIMEOUT = 60.0


@dataclass(frozen=True)
class ShortMessage:
    """
    One SMS as the host sent it, decoded.

    @ivar bridge: the bridge's name.
    @ivar to: the destination number.
    @ivar text: the message (8-bit data as Latin-1 characters, one a byte).
    @ivar encoding: C{"text"} (text mode), or the PDU's alphabet:
        C{"gsm7"}, C{"8bit"}, C{"ucs2"}.
    @ivar reference: the message reference C{+CMGS} gives the host.
    @ivar time: when the bridge took it, RFC 3339 in UTC.
    """

    bridge: str
    to: str
    text: str
    encoding: str
    reference: int
    time: str


class SinkError(Exception):
    """
    A sink could not take a message; the message says why.
    """


class Sink:
    """
    Where messages go.
    """

    def __init__(self, target: str, modem: "Modem") -> None:
        self.target = target
        self.modem = modem
        self.reactor = modem.reactor

    def deliver(self, message: ShortMessage) -> "Deferred[None]":
        """
        Hand C{message} over; fire when done, or fail with the reason.
        """
        raise NotImplementedError()


class LogSink(Sink):
    """
    One log line per message, with its number and text.
    """

    log = Logger()

    def deliver(self, message: ShortMessage) -> "Deferred[None]":
        self.log.info(
            "{bridge}: SMS {reference} to {to}: {text!r}",
            bridge=message.bridge,
            reference=message.reference,
            to=message.to,
            text=message.text,
        )
        return succeed(None)


class MailSink(Sink):
    """
    An e-mail per message, to the address after C{mailto:}, through the
    bridge's SMTP parameters (C{AT#SMTPSERV}, C{AT#SENDERADDR}, ...: their
    power-on values come from the C{.ini}).
    """

    def deliver(self, message: ShortMessage) -> "Deferred[None]":
        from tcpbridge.services.smtp import sendMessage

        subject = "SMS to %s from %s" % (message.to, message.bridge)
        return sendMessage(self.modem, [address(self.target)], subject, message.text)


class HTTPSink(Sink):
    """
    A JSON POST per message to the URL; any answer but 2xx is a failure.
    """

    def deliver(self, message: ShortMessage) -> "Deferred[None]":
        import treq

        def answered(response: Any) -> "Deferred[None]":
            def read(body: bytes) -> None:
                if not 200 <= response.code < 300:
                    raise SinkError("%s answered HTTP %d" % (self.target, response.code))

            return treq.content(response).addCallback(read)

        d = treq.post(
            self.target,
            json=asdict(message),
            persistent=False,
            reactor=self.reactor,
            timeout=SINK_TIMEOUT,
        )
        return d.addCallback(answered)


#: The kind of sink for each scheme of the C{sms} key.
SINKS: Dict[str, Callable[..., Sink]] = {
    "log": LogSink,
    "mailto": MailSink,
    "http": HTTPSink,
    "https": HTTPSink,
}


def address(target: str) -> str:
    """
    The e-mail address of a C{mailto:} sink.
    """
    return target[len("mailto:") :]


def checkMailAddress(text: str) -> str:
    """
    Check one e-mail address.

    @raise ValueError: if it is not one.
    """
    if text.count("@") != 1 or text.startswith("@") or any(c in text for c in " ,<>\"'"):
        raise ValueError("%r is not one e-mail address" % (text,))
    return text


def checkSink(text: str) -> str:
    """
    Check the C{sms} key: C{log}, C{mailto:ADDRESS} or an HTTP(S) URL.

    @raise ValueError: saying what is wrong.
    """
    scheme = text.split(":", 1)[0].lower()
    if text == "log":
        return text
    if scheme == "mailto":
        checkMailAddress(address(text))
        return text
    if scheme in ("http", "https"):
        if not urlsplit(text).hostname:
            raise ValueError("%r is not a URL with a host" % (text,))
        return text
    raise ValueError("%r is not log, mailto:ADDRESS or an http:// or https:// URL" % (text,))


def makeSink(modem: "Modem") -> Sink:
    """
    The sink the bridge's C{sms} key names.
    """
    target = modem.config.sms
    return SINKS[target.split(":", 1)[0].lower()](target, modem)
