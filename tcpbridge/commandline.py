"""
The V.250 command-line editor: how a modem turns the bytes a host types
into command lines, whatever the commands mean.

A line ends with S3 (CR); an LF is ignored, or (C{line_end = cr-or-lf})
ends a line too, unless it follows a CR (CR LF ends one line, not two); S5 (backspace) deletes the last
character; C{A/} repeats the previous line at once; a bare ETX is reported
on its own; echo is the modem's (C{ATE}); a line over the limit is
discarded whole with one error.  Nothing the host types can stop it.
Answers go back framed as C{ATV}, C{ATQ} and C{+CMEE} say; unsolicited
codes wait until no line is being answered.  When a command hands the
input over (to a data-mode session), the LF of its CR LF stays behind.
"""

from typing import Callable, List, Optional

from twisted.internet.protocol import Protocol

from tcpbridge.results import LINE_TOO_LONG, RESULT_CODES, SYNTAX_ERROR
from tcpbridge.trace import TO_HOST

_ETX = 0x03
_LF = 0x0A

#: Seconds an LF may come after the CR that ended a command which handed
#: the input over (to a data-mode session) and still be the command line's
#: CR LF: a few characters' time at the slowest line speeds.
LF_GRACE = 0.1


class CommandLineReceiver(Protocol):
    """
    Frames command lines, as L{twisted.protocols.basic.LineReceiver} frames
    lines for its subclasses.

    It also writes the answers in the form the host chose: verbose or
    numeric result codes (C{ATV}), none (C{ATQ1}), numbered errors
    (C{+CMEE}).  A subclass runs the lines (L{lineReceived}) and says when
    the rest of the input must wait (L{acceptingInput} and L{hold}).
    """

    echo = True
    verbose = True
    quiet = False
    cmee = 0
    s3 = 13
    s5 = 8
    lineLimit = 1024
    _previous = b""
    #: Whether an LF alone ends a line (C{line_end = cr-or-lf}).
    lfEnds = False
    #: Errors answered (C{ERROR} or C{#CME ERROR}), for the metrics.
    errorsSent = 0

    def resetLine(self) -> None:
        """
        Forget what is half typed, and any unsolicited code still held.
        """
        self._line = bytearray()
        self._overflow = False
        self._unsolicited: List[str] = []
        self.answering = False
        self.crLast = False
        #: Whether this host ends its lines with CR LF (L{None}: not known
        #: yet), as its earlier lines showed.
        self.endsWithLF: Optional[bool] = None
        self._lfBy: Optional[float] = None

    trace: Optional[Callable[[str, bytes], None]] = None

    def commandInput(self, data: bytes) -> None:
        """
        Edit and frame bytes typed in command mode.
        """
        echo = bytearray()
        for i, b in enumerate(data):
            if not self.acceptingInput():
                self.hold(data[i:])
                break
            # Whether the line that runs now ended with this byte's CR (and
            # so whether an LF now is the second half of a CR LF).
            afterCR, self.crLast = self.crLast, b == self.s3
            if afterCR and b != self.s3:
                # How this host ends its lines: CR LF, or CR alone.
                self.endsWithLF = b == _LF
            if b == self.s3 or (b == _LF and self.lfEnds and not afterCR):
                if self.echo:
                    echo.append(b)
                self._flush(echo)
                line, self._line = bytes(self._line), bytearray()
                self._endLine(line)
            elif b == _ETX:
                self._flush(echo)
                self.etxReceived()
            elif b == _LF:
                continue
            elif b == self.s5:
                if self._line:
                    self._line.pop()
                if self.echo:
                    echo.append(b)
            else:
                if self.echo:
                    echo.append(b)
                if len(self._line) >= self.lineLimit:
                    self._overflow = True
                else:
                    self._line.append(b)
                    if len(self._line) == 2 and self._line.upper() == b"A/":
                        self._line = bytearray()
                        self._flush(echo)
                        self._endLine(self._previous)
        self._flush(echo)

    def _flush(self, echo: bytearray) -> None:
        if echo:
            self.write(bytes(echo))
            del echo[:]

    def _endLine(self, line: bytes) -> None:
        if self._overflow:
            self._overflow = False
            self.error(LINE_TOO_LONG)
            return
        text = line.decode("latin-1")
        if not text.strip():
            return
        if text[:2].upper() != "AT":
            self.error(SYNTAX_ERROR)
            return
        self._previous = line
        self.answering = True
        self.lineReceived(text)

    def handOver(self, now: float, text: bool = False) -> None:
        """
        The running command hands the host's input over (to a data-mode
        session): an LF right after the CR that ended its line, already
        here or due within L{LF_GRACE} seconds, belongs to the command line
        (CR LF), not to what follows.  A host whose earlier lines ended
        with a CR alone sends no such LF: an LF from it is data, always,
        unless what follows is C{text} (a prompt's lines), which never
        starts with one.
        """
        expected = self.answering and self.crLast and (text or self.endsWithLF is not False)
        self._lfBy = now + LF_GRACE if expected else None

    def handedOver(self, data: bytes, clock: Callable[[], float]) -> bytes:
        """
        The host's input after a hand-over, without the command line's LF.

        @param clock: gives the time now; asked only while such an LF may
            still come (once, after a hand-over, not for every read after).
        """
        lfBy = self._lfBy
        if lfBy is None:
            return data
        self._lfBy = None
        if data[:1] == b"\n" and clock() <= lfBy:
            return data[1:]
        return data

    # -- answers ------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """
        Send bytes to the host (nowhere once the line is lost).
        """
        if self.transport is not None:
            if self.trace is not None:
                self.trace(TO_HOST, data)
            self.transport.write(data)

    def info(self, text: str) -> None:
        """
        Send an information line, framed as C{ATV} says.
        """
        line = text.encode("latin-1", "replace")
        self.write(b"\r\n" + line + b"\r\n" if self.verbose else line + b"\r\n")

    def result(self, name: str) -> None:
        """
        Send a result code (verbose or numeric, nothing after C{ATQ1}).
        """
        if self.quiet:
            return
        if self.verbose:
            self.write(b"\r\n" + name.encode("ascii") + b"\r\n")
        else:
            self.write(b"%d\r" % (RESULT_CODES[name],))

    def error(self, code: int) -> None:
        """
        Send an error: C{#CME ERROR: code} after C{AT+CMEE=1}, else C{ERROR}.
        """
        self.errorsSent += 1
        if self.cmee and not self.quiet:
            self.info("#CME ERROR: %d" % (code,))
        else:
            self.result("ERROR")

    def unsolicited(self, text: str) -> None:
        """
        Send an unsolicited result code (C{+CREG: 1}) as soon as the line
        is free: never between a command and its answer, nor while input
        is not taken (data mode, a session closing); C{ATQ1} drops it.
        """
        if not self.quiet:
            self._unsolicited.append(text)
        self.sendUnsolicited()

    def answered(self) -> None:
        """
        The running line has its final answer: what was held may go.
        """
        self.answering = False
        self.sendUnsolicited()

    def sendUnsolicited(self) -> None:
        """
        Send the unsolicited codes held, if the line is free now.
        """
        if self.answering or not self.acceptingInput():
            return
        held, self._unsolicited = self._unsolicited, []
        for text in held:
            self.info(text)

    # -- what a subclass provides ------------------------------------------------

    def lineReceived(self, line: str) -> None:
        """
        A command line (starting with C{AT}) was typed.
        """
        raise NotImplementedError()

    def etxReceived(self) -> None:
        """
        A bare ETX was typed in command mode.
        """

    def acceptingInput(self) -> bool:
        """
        Whether the next byte may be taken now (not while a command runs).
        """
        return True

    def hold(self, data: bytes) -> None:
        """
        Keep C{data} for when input is accepted again.
        """
        raise NotImplementedError()



