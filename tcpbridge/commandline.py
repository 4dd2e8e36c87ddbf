"""
The V.250 command-line editor: how a modem turns the bytes a host types
into command lines, whatever the commands mean.

A line ends with S3 (CR); an LF is ignored; S5 (backspace) deletes the last
character; C{A/} repeats the previous line at once; a bare ETX is reported
on its own; echo is the modem's (C{ATE}); a line over the limit is
discarded whole with one error.  Nothing the host types can stop it.
"""

from twisted.internet.protocol import Protocol

from tcpbridge.results import LINE_TOO_LONG, SYNTAX_ERROR

_ETX = 0x03
_LF = 0x0A


class CommandLineReceiver(Protocol):
    """
    Frames command lines, as L{twisted.protocols.basic.LineReceiver} frames
    lines for its subclasses.

    A subclass runs the lines (L{lineReceived}), says when the rest of the
    input must wait (L{acceptingInput} and L{hold}), and writes the echo
    and the errors (C{write} and C{error}).
    """

    echo = True
    s3 = 13
    s5 = 8
    lineLimit = 1024
    _previous = b""

    def resetLine(self) -> None:
        """
        Forget what is half typed.
        """
        self._line = bytearray()
        self._overflow = False

    def commandInput(self, data: bytes) -> None:
        """
        Edit and frame bytes typed in command mode.
        """
        echo = bytearray()
        for i, b in enumerate(data):
            if not self.acceptingInput():
                self.hold(data[i:])
                break
            if b == self.s3:
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
        self.lineReceived(text)

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

    def write(self, data: bytes) -> None:
        raise NotImplementedError()

    def error(self, code: int) -> None:
        raise NotImplementedError()


