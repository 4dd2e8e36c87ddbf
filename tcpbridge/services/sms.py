"""
The SMS service: sending short messages (C{AT+CMGS}) in text mode
(C{AT+CMGF=1}) or PDU mode (C{AT+CMGF=0}), and the settings firmware sets
before it sends (C{+CSCA}, C{+CNMI}, C{+CSMP}).

C{AT+CMGS} answers the C{> } prompt and reads what the host types itself
until Ctrl-Z (send) or ESC (cancel).  A PDU is decoded (GSM 7-bit, 8-bit,
UCS-2) by L{tcpbridge.pdu}.  The message then goes to the bridge's C{sms}
sink (L{tcpbridge.smssink}); C{+CMGS: <reference>} and C{OK} once it has
been handed over, C{+CMS ERROR: <code>} if it could not be.
"""

import re
import time
from typing import Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from tcpbridge.atcommands import Command, isNumber
from tcpbridge.parameters import BadValue, Parameter, integer
from tcpbridge.pdu import PDUError, Submit, decodeHex, decodeSubmit
from tcpbridge.registry import CommandSpec, Service
from tcpbridge.results import FINAL, SYNTAX_ERROR, ATError
from tcpbridge.smssink import SINK_TIMEOUT, ShortMessage, makeSink

# +CMS ERROR codes (3GPP 27.005).
INVALID_PDU = 304  # invalid PDU mode parameter
INVALID_TEXT = 305  # invalid text mode parameter
UNKNOWN_ERROR = 500  # the sink could not take the message

CTRL_Z = 0x1A
ESC = 0x1B
CR = 0x0D
LF = 0x0A

#: What the prompt shows before each line the host types.
PROMPT = b"\r\n> "

_NUMBER = re.compile(r"^\+?[0-9*#]{1,20}$")
_CSCA = re.compile(r'^"?\+?[0-9]{0,20}"?(,[0-9]{1,3})?$')


def numbers(count: int) -> "object":
    """
    A checker of up to C{count} comma-separated numbers from 0 to 255.
    """

    def parse(text: str) -> str:
        parts = text.split(",")
        if len(parts) > count or not all(isNumber(p) and int(p) <= 255 for p in parts):
            raise BadValue("not up to %d numbers from 0 to 255: %r" % (count, text))
        return text

    return parse


def serviceCentre(text: str) -> str:
    """
    Check a service centre address: a number in quotes and its type.
    """
    if not _CSCA.match(text):
        raise BadValue('not "<number>",<type>: %r' % (text,))
    return text


def _shared(name: str, default: object, parse: object, allowed: str) -> Parameter:
    return Parameter(name, default, parse, allowed, profiled=False)  # type: ignore[arg-type]


class SMSError(Exception):
    """
    A message the host typed cannot be sent: C{+CMS ERROR: code}.
    """

    def __init__(self, code: int) -> None:
        Exception.__init__(self, code)
        self.code = code


class Entry:
    """
    A message being typed at the C{> } prompt.
    """

    def __init__(self, to: Optional[str], length: int, answer: Deferred) -> None:
        self.to = to  # None: PDU mode
        self.length = length
        self.answer = answer
        self.typed = bytearray()
        self.overflow = False


class SMS(Service):
    """
    Sending SMS through the bridge's sink.
    """

    log = Logger()

    name = "sms"
    commands = {"+CMGS": CommandSpec("cmgs", "s")}
    parameters = [
        _shared("+CMGF", 0, integer(0, 1), "(0-1)"),
        _shared("+CSCA", '"",129', serviceCentre, '"<number>",(129,145)'),
        _shared("+CNMI", "0,1,0,0,0", numbers(5), "(0-3),(0-3),(0-3),(0-2),(0-1)"),
        _shared("+CSMP", "17,167,0,0", numbers(4), "(0-255),(0-255),(0-255),(0-255)"),
    ]

    #: The message being typed, and the one the sink is taking.
    entry: Optional[Entry] = None
    sending: Optional[Entry] = None
    #: The reference the next message gets (0 to 255, then round again).
    reference = 1

    def cmgs(self, command: Command) -> object:
        """
        C{AT+CMGS="<number>"} (text mode) or C{AT+CMGS=<length>} (PDU mode):
        the C{> } prompt, then the host's text up to Ctrl-Z.
        """
        m = self.modem
        if not command.args or len(command.args) > 2:
            raise ATError(SYNTAX_ERROR)
        first = command.args[0]
        if m.profile.get("+CMGF") == 1:
            if not _NUMBER.match(first):
                return self.refuse(INVALID_TEXT)
            to, length = first, 0
        else:
            if not isNumber(first) or not 1 <= int(first) <= 164:
                return self.refuse(INVALID_PDU)
            to, length = None, int(first)
        answer: Deferred = Deferred()
        self.entry = Entry(to, length, answer)
        m.write(PROMPT)
        m.capture(self.typed)
        return answer

    def refuse(self, code: int) -> str:
        """
        Answer C{+CMS ERROR: code} in place of C{OK}.
        """
        if not self.modem.quiet:
            self.modem.info("+CMS ERROR: %d" % (code,))
        return FINAL

    # -- the prompt --------------------------------------------------------------

    def typed(self, data: bytes) -> None:
        """
        What the host types at the prompt: the message, edited and echoed,
        up to Ctrl-Z (send) or ESC (cancel); what follows is a command line
        again.
        """
        entry = self.entry
        m = self.modem
        assert entry is not None
        echo = bytearray()
        for i, b in enumerate(data):
            if b in (CTRL_Z, ESC):
                m.write(bytes(echo))
                m.capture(None)
                self.entry = None
                m.hold(data[i + 1 :])
                if b == ESC:
                    entry.answer.callback(None)
                else:
                    self.send(entry)
                return
            if b == LF:
                continue
            if b == CR and entry.to is not None:
                entry.typed.append(LF)
                echo += PROMPT
            elif b == m.s5:
                if entry.typed:
                    entry.typed.pop()
                if m.echo:
                    echo.append(b)
            elif b != CR:
                if len(entry.typed) >= m.lineLimit:
                    entry.overflow = True
                else:
                    entry.typed.append(b)
                if m.echo:
                    echo.append(b)
        m.write(bytes(echo))

    # -- sending ---------------------------------------------------------------------

    def message(self, entry: Entry) -> ShortMessage:
        """
        The message typed, decoded.

        @raise SMSError: if it cannot be sent as typed.
        """
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.modem.reactor.seconds()))
        if entry.to is not None:
            if entry.overflow:
                raise SMSError(INVALID_TEXT)
            to, text, encoding = entry.to, entry.typed.decode("latin-1"), "text"
        else:
            submit = decodePDU(bytes(entry.typed), entry.length, entry.overflow)
            to, text, encoding = submit.to, submit.text, submit.encoding
        reference, self.reference = self.reference, (self.reference + 1) % 256
        return ShortMessage(self.modem.name, to, text, encoding, reference, stamp)

    def send(self, entry: Entry) -> None:
        """
        Hand the message to the sink; answer the host once it is taken.
        """
        m = self.modem
        try:
            message = self.message(entry)
        except SMSError as e:
            entry.answer.callback(self.refuse(e.code))
            return

        def sent(result: object) -> None:
            if self.sending is entry:
                self.sending = None
                m.info("+CMGS: %d" % (message.reference,))
                entry.answer.callback(None)

        def failed(f: Failure) -> None:
            self.log.warn(
                "{bridge}: SMS {reference} to {to} not sent: {error}",
                bridge=m.name,
                reference=message.reference,
                to=message.to,
                error=f.getErrorMessage(),
            )
            if self.sending is entry:
                self.sending = None
                entry.answer.callback(self.refuse(UNKNOWN_ERROR))

        self.sending = entry
        d = makeSink(m).deliver(message)
        d.addTimeout(SINK_TIMEOUT, m.reactor).addCallbacks(sent, failed)

    def shutdown(self) -> None:
        # The line is lost: the message being typed is dropped, and one
        # being sent is no longer answered (there is no one to answer).
        if self.entry is not None:
            self.modem.capture(None)
            self.entry = None
        self.sending = None


def decodePDU(typed: bytes, length: int, overflow: bool) -> Submit:
    """
    Decode an SMS-SUBMIT PDU typed in hex.

    @param length: the TPDU's length in octets, as C{AT+CMGS} gave it.
    @raise SMSError: if it is not a well-formed PDU of that length.
    """
    try:
        octets, tpdu = decodeHex(typed.decode("latin-1").strip())
        if overflow or tpdu != length:
            raise PDUError("%d octets, not %d" % (tpdu, length))
        return decodeSubmit(octets)
    except PDUError:
        raise SMSError(INVALID_PDU)
