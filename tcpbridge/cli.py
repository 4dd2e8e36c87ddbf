"""
The C{tcpbridge} command (also C{python -m tcpbridge}): the version, and a
check of a configuration file that exits with a status, for configuration
management and for an operator about to restart the service.

The service itself runs under twistd: C{twistd -n tcpbridge --config FILE}.
"""

import argparse
import sys
from typing import List, Optional, TextIO

from tcpbridge import __version__
from tcpbridge.config import ConfigError
from tcpbridge.serviceconfig import readFile
from tcpbridge.tap import DEFAULT_CONFIG, EXIT_CONFIG


def check(path: str, out: TextIO, err: TextIO) -> int:
    """
    Read and validate the configuration at C{path} as the service would
    at start-up.

    @return: the exit status: 0 if it can be used, L{EXIT_CONFIG} if not.
    """
    try:
        bridges, _ = readFile(path)
    except ConfigError as e:
        err.write("tcpbridge: %s\n" % (e,))
        return EXIT_CONFIG
    out.write(
        "%s: %d bridge%s: %s\n"
        % (
            path,
            len(bridges),
            "" if len(bridges) == 1 else "s",
            ", ".join("%s (%s)" % (b.name, b.device) for b in bridges),
        )
    )
    return 0


def main(
    argv: Optional[List[str]] = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """
    Run the command with C{argv} (the process's arguments by default).

    @return: the exit status.
    """
    parser = argparse.ArgumentParser(
        prog="tcpbridge",
        description="Stand-in for a Wavecom GPRS modem's TCP socket service. "
        "Run the service with: twistd -n tcpbridge --config FILE",
    )
    parser.add_argument("--version", action="version", version="tcpbridge %s" % (__version__,))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    checking = commands.add_parser(
        "check", help="validate a configuration file and exit (0: usable, %d: not)" % (EXIT_CONFIG,)
    )
    checking.add_argument(
        "file", nargs="?", default=DEFAULT_CONFIG, help="the .ini file (default: %(default)s)"
    )
    arguments = parser.parse_args(argv)
    if arguments.command == "check":
        return check(arguments.file, out, err)
    parser.print_usage(err)
    err.write("tcpbridge: give a command (check) or --version; --help says more\n")
    return 2


def run() -> None:
    """
    The console entry point.
    """
    sys.exit(main())
