"""
What the SMTP and POP3 services share: their CME error codes, the mail
server's 3-minute silence, text as the host types it, the RFC 5322 header
a mail is given, and the SMTP wire form (CR LF lines, dot-stuffed) that a
host's mail body is spooled in on its way to the server.

No Twisted here: the services (L{tcpbridge.services.smtp},
L{tcpbridge.services.pop3}) do the talking.
"""

import re
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid
from typing import IO, Callable, List, Optional, Sequence

from tcpbridge.parameters import BadValue, server

#: CME error codes of the mail services (38016, DNS 38027 are shared).
SERVER_SILENT = 37964  # the mail server gave no answer for 3 minutes
LOGIN_REFUSED = 38100  # SMTP AUTH, or POP3 USER/PASS or APOP, refused
RECIPIENT_REFUSED = 38101  # the SMTP server accepted none of the recipients
MESSAGE_REFUSED = 38102  # the SMTP server refused the sender or the message
CONNECTION_LOST = 38103  # the server closed or broke the connection mid-way
TLS_FAILED = 38104  # STARTTLS/STLS required but not offered, or it failed
MAILBOX_REFUSED = 38105  # the POP3 server refused STAT, RETR or DELE

#: Seconds a mail server may stay silent before the command gives up.
SERVER_TIMEOUT = 180.0

#: Recipients a C{RECi} or C{CCRECi} holds.
MAX_RECIPIENTS = 10

#: Characters a C{BODYi} holds.
BODY_LIMIT = 4096

_ADDRESS = re.compile(r'^[^@\s",<>;]+@[^@\s",<>;]+$')

CTRL_Z = b"\x1a"
ESC = b"\x1b"


def addresses(text: str) -> str:
    """
    Check a list of up to ten e-mail addresses, separated by commas (the
    value of C{RECi} and C{CCRECi}); empty means none.
    """
    items = splitAddresses(text)
    if len(items) > MAX_RECIPIENTS:
        raise BadValue("more than %d addresses" % (MAX_RECIPIENTS,))
    for item in items:
        if len(item) > 120 or not _ADDRESS.match(item):
            raise BadValue("not an e-mail address: %r" % (item,))
    return ",".join(items)


def address(text: str) -> str:
    """
    Check one e-mail address (C{SENDERADDR}); empty means not set.
    """
    if text and addresses(text) != text:
        raise BadValue("not one e-mail address: %r" % (text,))
    return text


def splitAddresses(text: str) -> List[str]:
    """
    The addresses of a C{RECi} value.
    """
    return [a.strip() for a in text.split(",") if a.strip()]


def body(text: str) -> str:
    """
    Check a C{BODYi}: printable text and line breaks, up to
    L{BODY_LIMIT} characters.
    """
    if len(text) > BODY_LIMIT or any(ord(c) < 32 and c not in "\r\n\t" for c in text):
        raise BadValue("not text of up to %d characters" % (BODY_LIMIT,))
    return text


def hostText(text: str) -> str:
    """
    Text as the host typed it (the command line reads bytes as Latin-1):
    UTF-8 if its bytes are UTF-8, Latin-1 otherwise.
    """
    raw = text.encode("latin-1", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return text


def buildMessage(
    senderName: str,
    senderAddress: str,
    to: Sequence[str],
    cc: Sequence[str],
    subject: str,
    domain: str,
    now: float,
    text: Optional[str] = None,
) -> bytes:
    """
    A mail's RFC 5322 header (C{From}, C{To}, C{Cc}, C{Subject} encoded
    when it is not ASCII, C{Date}, C{Message-ID}), with C{text} as a
    plain-text body, or, without C{text}, the header and its blank line.
    """
    message = EmailMessage(policy=SMTP)
    name = hostText(senderName)
    message["From"] = formataddr((name, senderAddress)) if name else senderAddress
    if to:
        message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = hostText(subject)
    message["Date"] = formatdate(now, localtime=True)
    message["Message-ID"] = make_msgid(domain=domain or "tcpbridge.invalid")
    if text is not None:
        content = hostText(text).replace("\r\n", "\n")
        ascii = all(ord(c) < 128 for c in content)
        message.set_content(content, cte="7bit" if ascii else "quoted-printable")
    return bytes(message)


def wireForm(message: bytes) -> bytes:
    """
    A whole message in SMTP's form: CR LF line ends, a dot doubled at the
    start of a line (the server takes it off again).
    """
    lines = message.replace(b"\r\n", b"\n").split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line[:1] == b"." else line) + b"\r\n" for line in lines)


class BodySpool:
    """
    Takes the body a host sends after C{AT#PUTMAIL}, in pieces as they
    arrive, and writes the whole message in SMTP's wire form to a file:
    the header C{header()} builds, unless the body starts with CR LF (then
    it carries its own and the CR LF is dropped), then the body,
    dot-stuffed, up to the end mark CR LF . CR LF (the end mark's CR LF
    ends the body's last line).  Only a few bytes are ever held.

    @ivar size: bytes of the body taken so far.
    """

    def __init__(self, spool: IO[bytes], header: Callable[[], bytes]) -> None:
        self.spool = spool
        self.header: Optional[Callable[[], bytes]] = header
        self.size = 0
        self._held = b""
        self._lineStart = True

    def feed(self, data: bytes) -> Optional[bytes]:
        """
        Take bytes from the host.

        @return: L{None} while the body goes on; once the end mark has
            come, the bytes that followed it (not part of the body).
        """
        buf = self._held + data
        self._held = b""
        if self.header is not None:
            if len(buf) < 2 and b"\r\n".startswith(buf):
                self._held = buf
                return None
            if buf[:2] == b"\r\n":
                buf = buf[2:]
            else:
                self.spool.write(wireForm(self.header()))
            self.header = None
        out = bytearray()
        rest = self._scan(buf, out)
        self.size += len(out)
        self.spool.write(bytes(out))
        return rest

    def _scan(self, buf: bytes, out: bytearray) -> Optional[bytes]:
        i, n = 0, len(buf)
        while i < n:
            if self._lineStart and buf[i : i + 1] == b".":
                ahead = buf[i : i + 3]
                if ahead == b".\r\n":
                    return buf[i + 3 :]
                if len(ahead) < 3 and b".\r\n".startswith(ahead):
                    self._held = bytes(ahead)
                    return None
                out += b"."
            end = buf.find(b"\r\n", i)
            if end == -1:
                if buf.endswith(b"\r"):
                    out += buf[i : n - 1]
                    self._held = b"\r"
                else:
                    out += buf[i:]
                self._lineStart = False
                return None
            out += buf[i : end + 2]
            i = end + 2
            self._lineStart = True
        return None


def serverOrNone(text: str) -> str:
    """
    Check a mail server's IPv4 address or host name; empty means not set.
    """
    return server(text) if text else text
