"""
Parsing one AT command line into the commands it holds.

A line such as C{ATE0V1} holds two basic commands; C{AT#TCPPORT=23;#DLEMODE=1}
holds two extended ones.  This module only splits and classifies: it knows
no command's meaning and does no I/O, so it can be tested exhaustively.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from tcpbridge.results import BAD_VALUE, SYNTAX_ERROR, ATError

# Kinds of invocation.
ACTION = "action"  # AT#LTCPSTART, ATE0, ATZ
SET = "set"  # AT#TCPPORT=23
READ = "read"  # AT#TCPPORT?
TEST = "test"  # AT#TCPPORT=?


#: Only ASCII digits count: str.isdigit() also accepts "²" and the like.
DIGITS = frozenset("0123456789")


def isNumber(text: str) -> bool:
    """
    Whether C{text} is a non-empty run of ASCII digits.
    """
    return bool(text) and all(c in DIGITS for c in text)


class ParseError(Exception):
    """
    The line is not well formed (CME error 34819, syntax error).
    """


@dataclass(frozen=True)
class Command:
    """
    One command of a line: its upper-cased name (C{E}, C{&W}, C{S3},
    C{#TCPPORT}, C{+CMEE}), how it was invoked, and its arguments.

    For basic commands the digits that follow the letter (C{E0}) are the one
    argument; for C{ATSn=v} the value is.  Quoted string arguments keep their
    case and lose their quotes; C{quoted} records which were quoted.
    """

    name: str
    kind: str
    args: Tuple[str, ...] = ()
    quoted: Tuple[bool, ...] = field(default=(), compare=False)


def splitArguments(text: str) -> Tuple[Tuple[str, ...], Tuple[bool, ...]]:
    """
    Split the text after C{=} into comma-separated arguments.

    Quoted arguments may hold commas and semicolons.  Unquoted ones are
    stripped of spaces.
    """
    args: List[str] = []
    quoted: List[bool] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            end = text.find('"', i + 1)
            if end == -1:
                raise ParseError("unterminated string")
            args.append(text[i + 1 : end])
            quoted.append(True)
            i = end + 1
            while i < n and text[i] == " ":
                i += 1
        else:
            start = i
            while i < n and text[i] != ",":
                if text[i] == '"':
                    raise ParseError("stray quote")
                i += 1
            args.append(text[start:i].strip())
            quoted.append(False)
        if i >= n:
            break
        if text[i] != ",":
            raise ParseError("junk after string")
        i += 1
    return tuple(args), tuple(quoted)


def _extendedEnd(line: str, i: int) -> int:
    """
    Index of the C{;} ending the extended command that starts at C{i}, or
    the end of the line; semicolons inside quotes do not count.
    """
    inQuote = False
    n = len(line)
    while i < n:
        c = line[i]
        if c == '"':
            inQuote = not inQuote
        elif c == ";" and not inQuote:
            return i
        i += 1
    if inQuote:
        raise ParseError("unterminated string")
    return n


def _parseExtended(line: str, i: int) -> Tuple[Command, int]:
    """
    Parse C{#NAME...} or C{+NAME...} starting at C{i}.
    """
    end = _extendedEnd(line, i)
    body = line[i:end]
    j = 1
    while j < len(body) and (body[j].isalnum() or body[j] in "_-"):
        j += 1
    name = body[:j].upper()
    if j == 1:
        raise ParseError("missing command name")
    rest = body[j:]
    if rest == "":
        cmd = Command(name, ACTION)
    elif rest.strip() == "?":
        cmd = Command(name, READ)
    elif rest.replace(" ", "") == "=?":
        cmd = Command(name, TEST)
    elif rest.startswith("="):
        args, quoted = splitArguments(rest[1:])
        cmd = Command(name, SET, args, quoted)
    else:
        raise ParseError("unexpected text after command name")
    return cmd, end + 1 if end < len(line) else end


def _parseBasic(line: str, i: int) -> Tuple[Command, int]:
    """
    Parse one basic command (C{E0}, C{&W}, C{S3=13}, C{S5?}, C{I}) at C{i}.
    """
    n = len(line)
    c = line[i].upper()
    i += 1
    if c == "&":
        if i >= n or not line[i].isalpha():
            raise ParseError("missing letter after &")
        c = "&" + line[i].upper()
        i += 1
    elif c == "S":
        start = i
        while i < n and line[i] in DIGITS:
            i += 1
        if i == start:
            raise ParseError("missing register number")
        name = "S" + str(int(line[start:i]))
        if line.startswith("=?", i):
            return Command(name, TEST), i + 2
        if i < n and line[i] == "?":
            return Command(name, READ), i + 1
        if i < n and line[i] == "=":
            i += 1
            start = i
            while i < n and line[i] in DIGITS:
                i += 1
            value = line[start:i] or "0"
            return Command(name, SET, (value,), (False,)), i
        raise ParseError("register needs = or ?")
    elif not c.isalpha():
        raise ParseError("not a command letter: %r" % (c,))
    start = i
    while i < n and line[i] in DIGITS:
        i += 1
    if line.startswith("=?", i):
        return Command(c, TEST), i + 2
    if i < n and line[i] == "?":
        return Command(c, READ), i + 1
    digits = line[start:i]
    return Command(c, ACTION, (digits,) if digits else (), (False,) if digits else ()), i


def _withoutSpaces(line: str) -> str:
    """
    The line with its spaces removed, except inside quoted strings: V.250
    ignores spaces in a command line (C{ATS3= 13} is C{ATS3=13}).
    """
    if " " not in line:
        return line
    parts = line.split('"')
    # Even-numbered parts are outside quotes.
    return '"'.join(p if i % 2 else p.replace(" ", "") for i, p in enumerate(parts))


def parseLine(line: str) -> Tuple[List[Command], Optional[ParseError]]:
    """
    Parse a whole command line, with or without its leading C{AT}.

    Spaces between commands are ignored, as modems do.  An empty line after
    C{AT} gives no command (the bare C{AT} that answers C{OK}).

    @return: the commands parsed, in order, and the L{ParseError} that
        stopped the parse (or L{None}).  The commands before a syntax error
        still run: a modem executes a line from left to right and stops at
        the first error.
    """
    if line[:2].upper() == "AT":
        line = line[2:]
    line = _withoutSpaces(line)
    commands: List[Command] = []
    i = 0
    n = len(line)
    try:
        while i < n:
            c = line[i]
            if c == " " or c == ";":
                i += 1
                continue
            if c in "#+":
                cmd, i = _parseExtended(line, i)
            else:
                cmd, i = _parseBasic(line, i)
            commands.append(cmd)
    except ParseError as e:
        return commands, e
    return commands, None


def numbers(command: Command, low: int, high: int) -> List[int]:
    """
    The numeric arguments of a set command, between C{low} and C{high} of
    them.

    @raise ATError: if there are too few or too many, or one is not a number.
    """
    if command.kind != SET or not low <= len(command.args) <= high:
        raise ATError(SYNTAX_ERROR)
    if not all(isNumber(a) for a in command.args):
        raise ATError(BAD_VALUE)
    return [int(a) for a in command.args]


def number(command: Command, default: Optional[int] = None) -> int:
    """
    The single numeric argument of a command (C{E0}, C{+CMEE=1}).

    @raise ATError: if it is missing (and has no default) or not a number.
    """
    if not command.args:
        if default is None:
            raise ATError(SYNTAX_ERROR)
        return default
    if len(command.args) != 1:
        raise ATError(SYNTAX_ERROR)
    text = command.args[0]
    if not isNumber(text):
        raise ATError(BAD_VALUE)
    return int(text)
