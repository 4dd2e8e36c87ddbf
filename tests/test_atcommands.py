"""
Tests for L{tcpbridge.atcommands}, splitting an AT command line into its
commands.
"""

from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.atcommands import (
    ACTION,
    READ,
    SET,
    TEST,
    Command,
    ParseError,
    parseLine,
    splitArguments,
)


class ParseLineTests(SynchronousTestCase):
    """
    Tests for L{parseLine} and L{splitArguments}.
    """

    def assertParses(self, line: str, expected: list) -> None:
        """
        Assert that C{line} parses, with no error, into C{expected}.
        """
        commands, error = parseLine(line)
        self.assertIsNone(error, line)
        self.assertEqual(commands, expected, line)

    def assertError(self, line: str, before: list) -> None:
        """
        Assert that C{line} gives a L{ParseError} after the commands C{before}.
        """
        commands, error = parseLine(line)
        self.assertIsInstance(error, ParseError, line)
        self.assertEqual(commands, before, line)

    def test_bareAT(self) -> None:
        """
        A bare C{AT} holds no command and no error.
        """
        self.assertEqual(parseLine("AT"), ([], None))

    def test_withoutAT(self) -> None:
        """
        The line may be given without its C{AT}.
        """
        self.assertParses("E0", [Command("E", ACTION, ("0",))])

    def test_basicConcatenated(self) -> None:
        """
        Basic commands written one after another are separate commands, each with its digits.
        """
        self.assertParses(
            "ATE0V1Q0",
            [
                Command("E", ACTION, ("0",)),
                Command("V", ACTION, ("1",)),
                Command("Q", ACTION, ("0",)),
            ],
        )

    def test_basicWithoutDigits(self) -> None:
        """
        A basic command without digits has no argument.
        """
        self.assertParses("ATZI", [Command("Z", ACTION), Command("I", ACTION)])

    def test_ampersand(self) -> None:
        """
        C{&W} and C{&F} are named with their ampersand.
        """
        self.assertParses("AT&W&F", [Command("&W", ACTION), Command("&F", ACTION)])

    def test_ampersandWithoutLetter(self) -> None:
        """
        An ampersand not followed by a letter is a syntax error.
        """
        self.assertError("ATE0&", [Command("E", ACTION, ("0",))])

    def test_spacesIgnored(self) -> None:
        """
        Spaces between commands are ignored.
        """
        self.assertParses("AT E0 V1", [Command("E", ACTION, ("0",)), Command("V", ACTION, ("1",))])

    def test_extendedSeparated(self) -> None:
        """
        Extended commands are separated by semicolons.
        """
        self.assertParses(
            "AT#TCPPORT=23;#DLEMODE=1",
            [Command("#TCPPORT", SET, ("23",)), Command("#DLEMODE", SET, ("1",))],
        )

    def test_basicThenExtended(self) -> None:
        """
        Basic commands may come before an extended one on the same line.
        """
        self.assertParses(
            "ATE0+CMEE=1", [Command("E", ACTION, ("0",)), Command("+CMEE", SET, ("1",))]
        )

    def test_extendedThenBasic(self) -> None:
        """
        After an extended command's semicolon, a basic command may follow.
        """
        self.assertParses(
            "AT+CMEE=1;E0", [Command("+CMEE", SET, ("1",)), Command("E", ACTION, ("0",))]
        )

    def test_kinds(self) -> None:
        """
        C{=v} is a set, C{?} a read, C{=?} a test, and a bare name an action.
        """
        self.assertParses(
            "AT#TCPPORT=23;#TCPPORT?;#TCPPORT=?;#LTCPSTART",
            [
                Command("#TCPPORT", SET, ("23",)),
                Command("#TCPPORT", READ),
                Command("#TCPPORT", TEST),
                Command("#LTCPSTART", ACTION),
            ],
        )

    def test_testWithSpace(self) -> None:
        """
        Spaces inside C{= ?} still make a test command.
        """
        self.assertParses("AT#DLEMODE= ?", [Command("#DLEMODE", TEST)])

    def test_emptySet(self) -> None:
        """
        C{=} with nothing after it is a set with one empty argument.
        """
        self.assertParses("AT#TCPPORT=", [Command("#TCPPORT", SET, ("",))])

    def test_quotedArgument(self) -> None:
        """
        A quoted argument loses its quotes, keeps its case, and is marked quoted.
        """
        commands, error = parseLine('AT#TCPSERV="Host.Example"')
        self.assertIsNone(error)
        self.assertEqual(commands, [Command("#TCPSERV", SET, ("Host.Example",))])
        self.assertEqual(commands[0].quoted, (True,))

    def test_quotedCommaSemicolon(self) -> None:
        """
        Commas and semicolons inside quotes belong to the argument.
        """
        self.assertParses(
            'AT#APNSERV="a,b;c";#TCPPORT=1,"2"',
            [Command("#APNSERV", SET, ("a,b;c",)), Command("#TCPPORT", SET, ("1", "2"))],
        )

    def test_profileAndValue(self) -> None:
        """
        C{=1,"v"} gives two arguments, the second marked quoted.
        """
        commands, error = parseLine('AT#TCPPORT=1,"23"')
        self.assertIsNone(error)
        self.assertEqual(commands[0].args, ("1", "23"))
        self.assertEqual(commands[0].quoted, (False, True))

    def test_sRegisters(self) -> None:
        """
        C{Sn=v}, C{Sn?} and C{Sn=?} are a set, a read and a test of register C{Sn}.
        """
        self.assertParses(
            "ATS3=13S5?S03=?",
            [Command("S3", SET, ("13",)), Command("S5", READ), Command("S3", TEST)],
        )

    def test_sRegisterEmptyValue(self) -> None:
        """
        C{Sn=} with no digits sets the register to 0.
        """
        self.assertParses("ATS5=", [Command("S5", SET, ("0",))])

    def test_sRegisterWithoutNumber(self) -> None:
        """
        C{S} without a register number is a syntax error.
        """
        self.assertError("ATE1S?", [Command("E", ACTION, ("1",))])

    def test_sRegisterWithoutOperator(self) -> None:
        """
        C{Sn} with neither C{=} nor C{?} is a syntax error.
        """
        self.assertError("ATS3", [])

    def test_basicReadAndTest(self) -> None:
        """
        C{E?} reads and C{E=?} tests a basic command.
        """
        self.assertParses("ATE?V=?", [Command("E", READ), Command("V", TEST)])

    def test_caseInsensitive(self) -> None:
        """
        The prefix and command names are read in any case and upper-cased.
        """
        self.assertParses(
            "at#TcpPort=23;+cmee=1;e0&w",
            [
                Command("#TCPPORT", SET, ("23",)),
                Command("+CMEE", SET, ("1",)),
                Command("E", ACTION, ("0",)),
                Command("&W", ACTION),
            ],
        )

    def test_errorKeepsCommandsBefore(self) -> None:
        """
        A syntax error is returned, not raised, with the commands before it.
        """
        self.assertError(
            "AT#TCPPORT=23;#DLEMODE:1;#TCPPORT=24", [Command("#TCPPORT", SET, ("23",))]
        )

    def test_errorBasicNotALetter(self) -> None:
        """
        A character that is no command letter stops a basic line with an error.
        """
        self.assertError("ATE0=1", [Command("E", ACTION, ("0",))])

    def test_errorMissingName(self) -> None:
        """
        C{#} or C{+} without a name is a syntax error.
        """
        self.assertError("ATE0#", [Command("E", ACTION, ("0",))])
        self.assertError("AT+=1", [])

    def test_errorUnterminatedString(self) -> None:
        """
        An unterminated quoted string is a syntax error.
        """
        self.assertError('ATV1#TCPSERV="10.0.0.1', [Command("V", ACTION, ("1",))])

    def test_errorJunkAfterString(self) -> None:
        """
        Text right after a closing quote is a syntax error.
        """
        self.assertError('AT#TCPSERV="10.0.0.1"x', [])

    def test_splitArguments(self) -> None:
        """
        Arguments are split at commas, unquoted ones stripped, quoted ones kept exactly.
        """
        self.assertEqual(
            splitArguments(' 1 , " a,b " ,x y,'),
            (("1", " a,b ", "x y", ""), (False, True, False, False)),
        )

    def test_splitArgumentsEmpty(self) -> None:
        """
        An empty text is one empty argument.
        """
        self.assertEqual(splitArguments(""), (("",), (False,)))

    def test_splitArgumentsErrors(self) -> None:
        """
        An unterminated string, a stray quote or text after a string raise L{ParseError}.
        """
        self.assertRaises(ParseError, splitArguments, '"abc')
        self.assertRaises(ParseError, splitArguments, 'ab"c"')
        self.assertRaises(ParseError, splitArguments, '"ab" c')

    def test_quotedNotCompared(self) -> None:
        """
        Two commands differing only in which arguments were quoted are equal.
        """
        self.assertEqual(
            Command("#TCPPORT", SET, ("23",), (True,)), Command("#TCPPORT", SET, ("23",), (False,))
        )

    @settings(max_examples=300, deadline=None)
    @given(
        st.text(
            alphabet=st.one_of(
                st.sampled_from('ATESVQ&#+=?;," 019'),
                st.characters(min_codepoint=0, max_codepoint=127),
            ),
            max_size=60,
        )
    )
    def test_neverRaisesASCII(self, text: str) -> None:
        """
        parseLine returns commands and an optional error for any ASCII text, and never raises.
        """
        for line in (text, "AT" + text):
            commands, error = parseLine(line)
            self.assertIsInstance(commands, list)
            self.assertTrue(error is None or isinstance(error, ParseError))

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=60))
    @example("S\xb2?")
    def test_neverRaises(self, text: str) -> None:
        """
        parseLine returns commands and an optional error for any text at all, and never raises.
        """
        for line in (text, "AT" + text):
            commands, error = parseLine(line)
            self.assertIsInstance(commands, list)
            self.assertTrue(error is None or isinstance(error, ParseError))

    def test_superscriptRegister(self) -> None:
        """
        A register number written with a superscript digit (latin-1 0xB2) is a syntax error.
        """
        self.assertError("ATE0S\xb2?", [Command("E", ACTION, ("0",))])

    def test_superscriptDigits(self) -> None:
        """
        Only ASCII digits are a basic command's argument: a superscript digit is a syntax error.
        """
        self.assertError("ATE\xb2", [Command("E", ACTION)])
        commands, error = parseLine("ATS3=\xb3")
        self.assertIsInstance(error, ParseError)

    def test_spaceBeforeNumber(self) -> None:
        """
        A space between a basic command and its number never yields that command with value 0.
        """
        for line, meant in (
            ("ATS3= 13", Command("S3", SET, ("13",))),
            ("ATE 1", Command("E", ACTION, ("1",))),
        ):
            commands, error = parseLine(line)
            # Either the space is ignored (V.250 5.2.1), or the line is refused as a whole.
            self.assertIn((commands, error is None), [([meant], True), ([], False)], line)

