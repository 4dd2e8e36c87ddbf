"""
Tests for L{tcpbridge.cli}, the C{tcpbridge} command: C{--version} and
C{check FILE}.
"""

import io
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from tcpbridge import __version__
from tcpbridge.cli import main
from tcpbridge.tap import EXIT_CONFIG

#: The checkout, on the child's path.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CommandTests(SynchronousTestCase):
    """
    The command's exit statuses and exact output.
    """

    def command(self, *argv: str) -> "tuple[int, str, str]":
        out, err = io.StringIO(), io.StringIO()
        try:
            status = main(list(argv), out, err)
        except SystemExit as e:
            status = int(e.code or 0)
        return status, out.getvalue(), err.getvalue()

    def config(self, text: str) -> str:
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_checkGood(self) -> None:
        """
        check on a usable file exits 0 and names its bridges and devices.
        """
        path = self.config("[bridge:a]\ndevice = /dev/ttyS0\n[bridge:b]\ndevice = /dev/ttyS1\n")
        self.assertEqual(
            self.command("check", path),
            (0, "%s: 2 bridges: a (/dev/ttyS0), b (/dev/ttyS1)\n" % (path,), ""),
        )

    def test_checkBad(self) -> None:
        """
        check on a bad file exits 78 with the one line the service would print.
        """
        path = self.config("[bridge:a]\ndevice = /dev/ttyS0\ntcptxdelay = 30\n")
        self.assertEqual(
            self.command("check", path),
            (
                EXIT_CONFIG,
                "",
                "tcpbridge: %s: [bridge:a] tcptxdelay: out of range: 30 "
                "(allowed: 0 to 32760, a multiple of 20)\n" % (path,),
            ),
        )

    def test_noCommand(self) -> None:
        """
        No command is a usage error (exit 2) saying what to give.
        """
        status, out, err = self.command()
        self.assertEqual((status, out), (2, ""))
        self.assertTrue(
            err.endswith("tcpbridge: give a command (check) or --version; --help says more\n"), err
        )

    def test_moduleVersion(self) -> None:
        """
        python -m tcpbridge --version prints the package's version.
        """
        env = dict(os.environ, PYTHONPATH=ROOT)
        result = subprocess.run(
            [sys.executable, "-m", "tcpbridge", "--version"],
            env=env, cwd=ROOT, capture_output=True, timeout=60,
        )
        expected = b"tcpbridge %s\n" % (__version__.encode(),)
        self.assertEqual((result.returncode, result.stdout), (0, expected))
