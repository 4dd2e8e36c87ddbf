"""
The documentation holds: README.rst and docs/ render without a warning,
the configuration table shows every key with the default the code uses,
the systemd unit matches the install steps, nothing cites a file the
project does not ship, and the README's first session works word for word.
"""

import io
import os
import re
import shlex
import sys
from typing import Any, Dict, Generator, List, Tuple

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ProcessDone
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tcpbridge.config import KEYS, BridgeConfig, parseConfig
from tcpbridge.config import CONFIGURABLE
from tcpbridge.registry import PARAMETERS
from tcpbridge.serial import PTY_PREFIX
from tcpbridge.service import BridgeService
from tcpbridge.tap import DEFAULT_CONFIG, EXIT_CONFIG
from tests.hostside import CLOSED, ETX, OK, WAITING, freePort, openHost, poll
from tests.test_twistd import TwistdProcess

#: The checkout (or the unpacked source distribution).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The reStructuredText files the project ships.
DOCUMENTS = ["README.rst", "docs/commands.rst", "benchmarks/README.rst"]

#: The endings of the text files the project ships.
SHIPPED = (".py", ".rst", ".ini", ".service")

#: Files that still cite the specification, being rewritten elsewhere;
#: remove each name once its citations are gone.
PENDING_CITATIONS: set = set()


def read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def doctree(name: str) -> Any:
    """
    Parse a document with docutils; any warning fails.
    """
    from docutils.core import publish_doctree

    return publish_doctree(
        read(name),
        source_path=name,
        settings_overrides={"report_level": 2, "halt_level": 2, "warning_stream": io.StringIO()},
    )


def shown(value: object) -> str:
    """
    How the README's table shows a default value (its text, as rendered).
    """
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if value == "":
        return "empty"
    if isinstance(value, float):
        return "%g" % (value,)
    return str(value)


class DocumentTests(SynchronousTestCase):
    """
    The shipped documents.
    """

    def test_render(self) -> None:
        """
        Each document renders with docutils without a single warning.
        """
        from docutils.utils import SystemMessage

        for name in DOCUMENTS:
            try:
                doctree(name)
            except SystemMessage as e:
                self.fail("%s: %s" % (name, e))

    def configTable(self) -> Dict[str, Tuple[str, int]]:
        """
        Every row of the README's tables whose first column is C{key}:
        key -> (default as rendered, how many times it appears).
        """
        from docutils import nodes

        rows: Dict[str, Tuple[str, int]] = {}
        for table in doctree("README.rst").findall(nodes.table):
            head = [e.astext() for e in table.findall(nodes.entry)][:3]
            if head != ["key", "meaning", "default"]:
                continue
            for row in list(table.findall(nodes.row))[1:]:
                entries = [e.astext() for e in row.findall(nodes.entry)]
                key, default = entries[0], entries[-1]
                rows[key] = (default, rows.get(key, ("", 0))[1] + 1)
        return rows

    def test_everyKeyInTable(self) -> None:
        """
        Every key the configuration parser knows is in the README's tables once, with the default
        the code uses.
        """
        rows = self.configTable()
        defaults = BridgeConfig()
        self.assertEqual(sorted(rows), sorted(KEYS))
        for key in KEYS:
            default, count = rows[key]
            self.assertEqual(count, 1, key)
            if key == "device":
                expected = "required"
            elif key == "allow":
                expected = "everything"
            elif key in CONFIGURABLE:
                expected = shown(PARAMETERS[CONFIGURABLE[key]].default)
            else:
                expected = shown(getattr(defaults, key))
            self.assertEqual(default, expected, key)

    def test_noCitationOfUnshippedFiles(self) -> None:
        """
        No shipped file cites the specification, which the project does not ship.
        """
        citation = re.compile(r"SPEC\.md|SPEC( section)? \d")
        found = []
        for top in ["tcpbridge", "tests", "docs", "etc", "benchmarks", "twisted"]:
            for directory, _, files in os.walk(os.path.join(ROOT, top)):
                for name in files:
                    path = os.path.join(directory, name)
                    relative = os.path.relpath(path, ROOT)
                    if relative in PENDING_CITATIONS or not name.endswith(SHIPPED):
                        continue
                    with open(path, encoding="utf-8") as f:
                        if citation.search(f.read()):
                            found.append(relative)
        if citation.search(read("README.rst")):
            found.append("README.rst")
        self.assertEqual(found, [])

    def test_serviceUnit(self) -> None:
        """
        The unit reads the default configuration, does not restart on a configuration error, has
        a logs directory, and points at documentation the install steps put in place.
        """
        unit = read("etc/tcpbridge.service")
        readme = read("README.rst")
        settings: Dict[str, List[str]] = {}
        for line in unit.splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                settings.setdefault(key, []).append(value)
        self.assertIn("--config %s" % (DEFAULT_CONFIG,), settings["ExecStart"][0])
        self.assertEqual(settings["RestartPreventExitStatus"], [str(EXIT_CONFIG)])
        self.assertEqual(settings["LogsDirectory"], ["tcpbridge"])
        install = re.search(r"sudo install -D -m 644 (.*) -t (\S+)", readme)
        assert install is not None, "no install step for the documentation"
        installed = {
            "file://%s/%s" % (install.group(2), os.path.basename(f))
            for f in install.group(1).split()
        }
        for url in settings["Documentation"][0].split():
            self.assertIn(url, installed)
        for f in install.group(1).split():
            self.assertTrue(os.path.exists(os.path.join(ROOT, f)), f)


def literalBlocks(text: str) -> List[str]:
    """
    The literal blocks (after C{::}) of a reStructuredText text, dedented.
    """
    blocks = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        block = []
        for following in lines[i + 1 :]:
            if following.strip() and not following.startswith("  "):
                break
            block.append(following[2:])
        blocks.append("\n".join(block).strip("\n"))
    return blocks


class FirstSessionTests(TestCase):
    """
    The README's "A first session", replayed word for word on the sample
    configuration (with a free port and a private pty path).
    """

    timeout = 60

    def session(self) -> Tuple[str, List[Tuple[str, List[str]]], str]:
        """
        The section's terminal command, its (typed line, answer lines)
        pairs, and the peer's command line.
        """
        text = read("README.rst")
        section = text[text.index("A first session\n") : text.index("What it does\n")]
        terminal, dialogue, peer = literalBlocks(section)
        exchanges: List[Tuple[str, List[str]]] = []
        for line in dialogue.splitlines():
            if line.startswith("AT"):
                exchanges.append((line, []))
            else:
                exchanges[-1][1].append(line)
        return terminal, exchanges, peer

    @inlineCallbacks
    def test_firstSession(self) -> Generator[Deferred, Any, None]:
        """
        The host's lines get the answers shown, the peer's command opens a session whose text goes
        both ways, and Ctrl-C on the host closes it, ends the peer's command and leaves the host in
        command mode.
        """
        terminal, exchanges, peerCommand = self.session()
        sample = read("etc/tcpbridge.ini")
        [demo] = parseConfig(sample, "etc/tcpbridge.ini")
        readmePath = demo.device[len(PTY_PREFIX) :]
        readmePort = demo.parameters["tcpport"]
        self.assertIn(readmePath, terminal)
        self.assertIn(str(readmePort), peerCommand)

        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "tcpbridge-demo")
        port = freePort()
        [config] = parseConfig(
            sample.replace(readmePath, path).replace(
                "tcpport = %d" % (readmePort,), "tcpport = %d" % (port,)
            ),
            "sample",
        )
        config.interface = "127.0.0.1"
        service = BridgeService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        host = openHost(path, reactor)
        self.addCleanup(host.close)

        for line, answer in exchanges:
            line = line.replace(str(readmePort), str(port))
            response = yield host.command(line.encode("ascii"))
            self.assertTrue(response.startswith(line.encode("ascii") + b"\r"), response)
            lines = [l.decode() for l in response[len(line) + 1 :].split(b"\r\n") if l]
            self.assertEqual(lines, [a.replace(str(readmePort), str(port)) for a in answer], line)

        argv = shlex.split(peerCommand.replace(str(readmePort), str(port)))
        self.assertEqual(argv[0], "python3")
        peer = TwistdProcess()
        argv[0] = sys.executable
        reactor.spawnProcess(peer, sys.executable, argv, env=dict(os.environ))

        def kill() -> Any:
            if peer.reason is None:
                peer.transport.signalProcess("KILL")
            return peer.ended()

        self.addCleanup(kill)
        self.assertEqual((yield host.until(WAITING)), WAITING)
        peer.transport.write(b"hello from the peer\n")
        self.assertEqual((yield host.until(b"\n")), b"hello from the peer\n")
        host.write(b"hello from the host\r\n")
        yield poll(reactor, lambda: b"hello from the host\r\n" in peer.out, "the peer's output")
        host.write(ETX)
        self.assertEqual((yield host.until(CLOSED)), CLOSED)
        reason = yield peer.ended()
        self.assertIsInstance(reason, ProcessDone, peer.describe())
        self.assertEqual((yield host.command(b"AT")), b"AT\r" + OK)


class KnownCommandsTests(SynchronousTestCase):
    """
    The README's list of known commands is the registry's.
    """

    def test_everyCommandListed(self) -> None:
        """
        Every command and parameter a service registers is in the README's "Known commands", and
        nothing else is.
        """
        from tcpbridge.registry import COMMANDS

        text = read("README.rst")
        section = text[text.index("Known commands\n") : text.index("Configuration\n---")]
        listed = {name[2:] for name in re.findall(r"``(AT[^`]*)``", section)} - {""}
        self.assertEqual(sorted(listed), sorted(set(COMMANDS) | set(PARAMETERS)))
