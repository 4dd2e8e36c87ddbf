"""
Tests for L{tcpbridge.config}, reading the C{.ini} file into validated
settings.
"""

import ipaddress
import os

from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.config import BridgeConfig, ConfigError, parseConfig, readConfig

FILE = "bridges.ini"


class ParseConfigTests(SynchronousTestCase):
    """
    Tests for L{parseConfig} and L{readConfig}.
    """

    def assertConfigError(self, text: str, *parts: str) -> str:
        """
        Assert that C{text} is refused with a L{ConfigError} naming the file
        and each of C{parts}; return the message.
        """
        error = self.assertRaises(ConfigError, parseConfig, text, FILE)
        message = str(error)
        self.assertIn(FILE, message)
        for part in parts:
            self.assertIn(part, message)
        self.assertNotIn("\n", message)
        return message

    def test_minimal(self) -> None:
        """
        A bridge section with only a device gives that device and every default.
        """
        [bridge] = parseConfig("[bridge:one]\ndevice = /dev/ttyUSB0\n", FILE)
        self.assertEqual(bridge.name, "one")
        self.assertEqual(bridge.device, "/dev/ttyUSB0")
        defaults = BridgeConfig()
        self.assertEqual(bridge.baudrate, 115200)
        self.assertEqual(
            (bridge.bytesize, bridge.parity, bridge.stopbits, bridge.flowcontrol),
            (8, "N", 1, "none"),
        )
        self.assertEqual(bridge.interface, "0.0.0.0")
        self.assertIsNone(bridge.allow)
        self.assertIsNone(bridge.profile)
        self.assertEqual((bridge.dialect, bridge.link), ("w302", "auto"))
        self.assertEqual(bridge.connect_timeout, 30)
        self.assertEqual(bridge.line_limit, defaults.line_limit)
        self.assertEqual(bridge.parameters, {})

    def test_allKeys(self) -> None:
        """
        Every line and service key is read into its typed value.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        profile = os.path.join(directory, "full.json")
        [bridge] = parseConfig(
            "[bridge:full]\n"
            "device = pty:/tmp/host\n"
            "baudrate = 9600\n"
            "bytesize = 7\n"
            "parity = e\n"
            "stopbits = 2\n"
            "flowcontrol = RTSCTS\n"
            "interface = ::1\n"
            "allow = 10.0.0.0/8, 192.0.2.1 2001:db8::/32\n"
            "profile = %s\n"
            "dialect = universal-ip\n"
            "link = explicit\n"
            "connect_timeout = 2.5\n" % (profile,),
            FILE,
        )
        self.assertEqual(bridge.device, "pty:/tmp/host")
        self.assertEqual(
            (bridge.baudrate, bridge.bytesize, bridge.parity, bridge.stopbits),
            (9600, 7, "E", 2),
        )
        self.assertEqual(bridge.flowcontrol, "rtscts")
        self.assertEqual(bridge.interface, "::1")
        self.assertEqual(
            list(bridge.allow or []),
            [
                ipaddress.ip_network("10.0.0.0/8"),
                ipaddress.ip_network("192.0.2.1/32"),
                ipaddress.ip_network("2001:db8::/32"),
            ],
        )
        self.assertEqual(bridge.profile, profile)
        self.assertEqual((bridge.dialect, bridge.link), ("universal-ip", "explicit"))
        self.assertEqual(bridge.connect_timeout, 2.5)

    def test_parameters(self) -> None:
        """
        AT# parameter keys are checked and kept apart as power-on values, quoted or not.
        """
        [bridge] = parseConfig(
            "[bridge:p]\ndevice = x\ntcpserv = \"10.0.0.1\"\ntcpport = 2323\n"
            "dlemode = 0\ntcptxdelay = 40\noutport = 0\n",
            FILE,
        )
        self.assertEqual(
            bridge.parameters,
            {"tcpserv": "10.0.0.1", "tcpport": 2323, "dlemode": 0, "tcptxdelay": 40, "outport": 0},
        )

    def test_keysCaseInsensitive(self) -> None:
        """
        Keys may be written in any case.
        """
        [bridge] = parseConfig("[bridge:c]\nDevice = x\nTCPPORT = 23\n", FILE)
        self.assertEqual(bridge.device, "x")
        self.assertEqual(bridge.parameters, {"tcpport": 23})

    def test_defaultShared(self) -> None:
        """
        [DEFAULT] values apply to every bridge, and a bridge's own value wins.
        """
        first, second = parseConfig(
            "[DEFAULT]\nbaudrate = 9600\ntcpport = 2000\n"
            "[bridge:a]\ndevice = /dev/ttyS0\n"
            "[bridge:b]\ndevice = /dev/ttyS1\nbaudrate = 19200\n",
            FILE,
        )
        self.assertEqual((first.baudrate, second.baudrate), (9600, 19200))
        self.assertEqual(first.parameters, {"tcpport": 2000})
        self.assertEqual(second.parameters, {"tcpport": 2000})

    def test_defaultDevice(self) -> None:
        """
        A device given in [DEFAULT] satisfies every bridge.
        """
        [bridge] = parseConfig("[DEFAULT]\ndevice = /dev/ttyS0\n[bridge:a]\n", FILE)
        self.assertEqual(bridge.device, "/dev/ttyS0")

    def test_severalBridges(self) -> None:
        """
        Each [bridge:NAME] section is one bridge, in file order, named after its section.
        """
        bridges = parseConfig(
            "[bridge:north]\ndevice = /dev/ttyS0\n"
            "[bridge:south]\ndevice = /dev/ttyS1\n"
            "[bridge:east]\ndevice = pty:/tmp/east\n",
            FILE,
        )
        self.assertEqual([b.name for b in bridges], ["north", "south", "east"])
        self.assertEqual(
            [b.device for b in bridges], ["/dev/ttyS0", "/dev/ttyS1", "pty:/tmp/east"]
        )

    def test_sampleFile(self) -> None:
        """
        The sample configuration shipped in etc/ reads without error.
        """
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        bridges = readConfig(os.path.join(here, "etc", "tcpbridge.ini"))
        self.assertTrue(bridges)
        self.assertTrue(all(b.device for b in bridges))

    def test_unknownKey(self) -> None:
        """
        An unknown key is refused, naming file, section and key.
        """
        self.assertConfigError("[bridge:a]\ndevice = x\nspeed = 9600\n", "[bridge:a]", "speed")

    def test_badNumber(self) -> None:
        """
        A number that is not one, or out of range, is refused, naming file, section and key.
        """
        self.assertConfigError(
            "[bridge:a]\ndevice = x\nbaudrate = fast\n", "[bridge:a]", "baudrate"
        )
        self.assertConfigError("[bridge:a]\ndevice = x\nbytesize = 9\n", "[bridge:a]", "bytesize")
        self.assertConfigError(
            "[bridge:a]\ndevice = x\nconnect_timeout = 0\n", "[bridge:a]", "connect_timeout"
        )

    def test_badChoice(self) -> None:
        """
        A value outside a key's choices is refused, naming file, section, key and the value.
        """
        self.assertConfigError(
            "[bridge:a]\ndevice = x\nflowcontrol = dtrdsr\n", "[bridge:a]", "flowcontrol", "dtrdsr"
        )
        self.assertConfigError("[bridge:a]\ndevice = x\nparity = x\n", "[bridge:a]", "parity")
        self.assertConfigError("[bridge:a]\ndevice = x\nstopbits = 3\n", "[bridge:a]", "stopbits")
        self.assertConfigError("[bridge:a]\ndevice = x\ndialect = w303\n", "[bridge:a]", "dialect")

    def test_badInterface(self) -> None:
        """
        An interface that is not an IP address is refused.
        """
        self.assertConfigError(
            "[bridge:a]\ndevice = x\ninterface = eth0\n", "[bridge:a]", "interface"
        )

    def test_missingDevice(self) -> None:
        """
        A bridge without a device is refused, naming file, section and the device key.
        """
        self.assertConfigError("[bridge:a]\nbaudrate = 9600\n", "[bridge:a]", "device")

    def test_emptyDevice(self) -> None:
        """
        An empty device, or a pty: without a path, is refused.
        """
        self.assertConfigError("[bridge:a]\ndevice =\n", "[bridge:a]", "device")
        self.assertConfigError("[bridge:a]\ndevice = pty:\n", "[bridge:a]", "device")

    def test_duplicateSection(self) -> None:
        """
        A bridge section appearing twice is refused, naming file and section.
        """
        self.assertConfigError(
            "[bridge:a]\ndevice = x\n[bridge:a]\ndevice = y\n", "[bridge:a]", "twice"
        )

    def test_duplicateKey(self) -> None:
        """
        A key appearing twice in a section is refused, naming file, section and key.
        """
        self.assertConfigError(
            "[bridge:a]\ndevice = x\ndevice = y\n", "[bridge:a]", "device", "twice"
        )

    def test_duplicateBridgeName(self) -> None:
        """
        Two sections naming the same bridge (spaces aside) are refused.
        """
        self.assertConfigError(
            "[bridge:a]\ndevice = x\n[bridge: a]\ndevice = y\n", "[bridge: a]"
        )


    def test_noBridge(self) -> None:
        """
        A file with no bridge section is refused, naming the file.
        """
        self.assertConfigError("[DEFAULT]\nbaudrate = 9600\n", "[bridge:NAME]")
        self.assertConfigError("", "[bridge:NAME]")

    def test_unknownSection(self) -> None:
        """
        A section that is not [bridge:NAME] is refused, naming file and section.
        """
        self.assertConfigError("[bridge:a]\ndevice = x\n[serial]\ndevice = y\n", "[serial]")

    def test_bridgeWithoutName(self) -> None:
        """
        [bridge:] with no name is refused.
        """
        self.assertConfigError("[bridge:]\ndevice = x\n", "[bridge:]")

    def test_badTcpport(self) -> None:
        """
        A TCPPORT outside 0-65535, or not a number, is refused, naming file, section and key.
        """
        self.assertConfigError("[bridge:a]\ndevice = x\ntcpport = 65536\n", "[bridge:a]", "tcpport")
        self.assertConfigError(
            "[bridge:a]\ndevice = x\ntcpport = telnet\n", "[bridge:a]", "tcpport"
        )
        self.assertConfigError("[bridge:a]\ndevice = x\ntcpport = -1\n", "[bridge:a]", "tcpport")

    def test_badParameters(self) -> None:
        """
        Bad DLEMODE, TCPTXDELAY and TCPSERV values are refused, naming their key.
        """
        self.assertConfigError("[bridge:a]\ndevice = x\ndlemode = 2\n", "[bridge:a]", "dlemode")
        self.assertConfigError(
            "[bridge:a]\ndevice = x\ntcptxdelay = 30\n", "[bridge:a]", "tcptxdelay"
        )
        self.assertConfigError(
            "[bridge:a]\ndevice = x\ntcpserv = not a host!\n", "[bridge:a]", "tcpserv"
        )

    def test_badParameterInDefault(self) -> None:
        """
        A bad value in [DEFAULT] is reported against [DEFAULT], not a bridge that inherits it.
        """
        message = self.assertConfigError("[DEFAULT]\ntcpport = x\n[bridge:a]\ndevice = x\n")
        self.assertEqual(message, "bridges.ini: [DEFAULT] tcpport: not a number: 'x'")

    def test_badAllow(self) -> None:
        """
        An allow entry that is not a CIDR network is refused, naming file, section, key and entry.
        """
        self.assertConfigError(
            "[bridge:a]\ndevice = x\nallow = 10.0.0.0/8, 10.0.0.0/33\n",
            "[bridge:a]",
            "allow",
            "10.0.0.0/33",
        )
        self.assertConfigError("[bridge:a]\ndevice = x\nallow = localhost\n", "[bridge:a]", "allow")

    def test_notIni(self) -> None:
        """
        Text that is not an .ini file is refused with a ConfigError naming the file.
        """
        self.assertConfigError("device = x\n")

    def test_readConfig(self) -> None:
        """
        readConfig parses the file at the path given, and errors name that path.
        """
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write("[bridge:r]\ndevice = /dev/ttyS0\n")
        [bridge] = readConfig(path)
        self.assertEqual(bridge.name, "r")
        with open(path, "w", encoding="utf-8") as f:
            f.write("[bridge:r]\n")
        self.assertIn(path, str(self.assertRaises(ConfigError, readConfig, path)))

    def test_readConfigMissing(self) -> None:
        """
        A missing file is a ConfigError naming the path, not an OSError.
        """
        path = self.mktemp()
        error = self.assertRaises(ConfigError, readConfig, path)
        self.assertIn(path, str(error))
        self.assertIn("cannot read", str(error))

    def test_readConfigNotUTF8(self) -> None:
        """
        A file that is not UTF-8 text is a ConfigError naming the path.
        """
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(b"[bridge:r]\ndevice = \xff\xfe\n")
        self.assertIn(path, str(self.assertRaises(ConfigError, readConfig, path)))


class MessageTests(SynchronousTestCase):
    """
    The exact text of each configuration error: it says where, what is
    wrong and what is allowed.
    """

    def message(self, text: str) -> str:
        """
        The message C{text} is refused with.
        """
        return str(self.assertRaises(ConfigError, parseConfig, text, FILE))

    def workspace(self) -> str:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        return directory

    def test_rangeWithMultiple(self) -> None:
        """
        A TCPTXDELAY out of range says the range and the multiple.
        """
        self.assertEqual(
            self.message("[bridge:a]\ndevice = x\ntcptxdelay = 30\n"),
            "bridges.ini: [bridge:a] tcptxdelay: out of range: 30 "
            "(allowed: 0 to 32760, a multiple of 20)",
        )

    def test_rangeOfNumber(self) -> None:
        """
        A line setting out of range says the range.
        """
        self.assertEqual(
            self.message("[bridge:a]\ndevice = x\nbaudrate = 10\n"),
            "bridges.ini: [bridge:a] baudrate: out of range: 10 (allowed: 50 to 4000000)",
        )

    def test_zeroSeconds(self) -> None:
        """
        A time-out of 0 says it must be more than 0.
        """
        self.assertEqual(
            self.message("[bridge:a]\ndevice = x\nconnect_timeout = 0\n"),
            "bridges.ini: [bridge:a] connect_timeout: out of range: 0 "
            "(allowed: more than 0, up to 86400 seconds)",
        )

    def test_typoInDefault(self) -> None:
        """
        An unknown key in [DEFAULT] is blamed on [DEFAULT].
        """
        self.assertEqual(
            self.message("[DEFAULT]\nbaudrat = 9600\n[bridge:a]\ndevice = x\n"),
            "bridges.ini: [DEFAULT] baudrat: unknown key",
        )

    def test_noSections(self) -> None:
        """
        A file of keys without a section header says where the first key is and what to add.
        """
        self.assertEqual(
            self.message("# bridges\ndevice = x\n"),
            "bridges.ini: line 2: 'device = x' is outside any section: "
            "start the file with [bridge:NAME] (or [DEFAULT])",
        )

    def test_notKeyValue(self) -> None:
        """
        A line that is not a key = value line is shown with its number.
        """
        self.assertEqual(
            self.message("[bridge:a]\ndevice = x\nbaudrate\n"),
            "bridges.ini: line 3: 'baudrate' is not a 'key = value' line",
        )

    def test_profileDirectoryMissing(self) -> None:
        """
        A profile in a directory that does not exist is refused at start, naming the directory.
        """
        directory = os.path.join(self.workspace(), "missing")
        self.assertEqual(
            self.message("[bridge:a]\ndevice = x\nprofile = %s/a.json\n" % (directory,)),
            "bridges.ini: [bridge:a] profile: directory %s does not exist" % (directory,),
        )

    def test_traceDirectoryMissing(self) -> None:
        """
        A trace file in a directory that does not exist is refused at start.
        """
        directory = os.path.join(self.workspace(), "missing")
        self.assertEqual(
            self.message("[bridge:a]\ndevice = x\ntrace = %s/a.trace\n" % (directory,)),
            "bridges.ini: [bridge:a] trace: directory %s does not exist" % (directory,),
        )

    def test_duplicateDevice(self) -> None:
        """
        Two bridges on one device are refused, naming both.
        """
        self.assertEqual(
            self.message(
                "[bridge:a]\ndevice = /dev/ttyS0\n[bridge:b]\ndevice = /dev/ttyS0\n"
            ),
            "bridges.ini: [bridge:b] device: /dev/ttyS0 is already the device of [bridge:a]: "
            "a line serves one bridge",
        )

    def test_duplicateDeviceThroughLink(self) -> None:
        """
        A link to a device another bridge names is the same device.
        """
        link = os.path.join(self.workspace(), "modem")
        os.symlink("/dev/null", link)
        message = self.message(
            "[bridge:a]\ndevice = /dev/null\n[bridge:b]\ndevice = %s\n" % (link,)
        )
        self.assertEqual(
            message,
            "bridges.ini: [bridge:b] device: %s is already the device of [bridge:a]: "
            "a line serves one bridge" % (link,),
        )

    def test_duplicatePty(self) -> None:
        """
        Two pty: devices at one path (written differently) are refused.
        """
        directory = self.workspace()
        text = "[bridge:a]\ndevice = pty:%s/host\n[bridge:b]\ndevice = pty:%s/./host\n" % (
            directory, directory,
        )
        self.assertEqual(
            self.message(text),
            "bridges.ini: [bridge:b] device: pty:%s/./host is already the device of "
            "[bridge:a]: a line serves one bridge" % (directory,),
        )

    def test_ptyOverFile(self) -> None:
        """
        A pty: path holding a regular file is refused, and the file is left alone.
        """
        path = os.path.join(self.workspace(), "notes")
        with open(path, "w") as f:
            f.write("keep me")
        self.assertEqual(
            self.message("[bridge:a]\ndevice = pty:%s\n" % (path,)),
            "bridges.ini: [bridge:a] device: %s is a regular file: a pty: device only "
            "replaces a link it made" % (path,),
        )
        with open(path) as f:
            self.assertEqual(f.read(), "keep me")

    def test_ptyOverDeviceNode(self) -> None:
        """
        A pty: path naming a device node is refused.
        """
        self.assertEqual(
            self.message("[bridge:a]\ndevice = pty:/dev/null\n"),
            "bridges.ini: [bridge:a] device: /dev/null is a character device: a pty: device "
            "only replaces a link it made",
        )

    def test_ptyOverDirectory(self) -> None:
        """
        A pty: path naming a directory is refused.
        """
        path = self.workspace()
        self.assertEqual(
            self.message("[bridge:a]\ndevice = pty:%s\n" % (path,)),
            "bridges.ini: [bridge:a] device: %s is a directory: a pty: device only replaces "
            "a link it made" % (path,),
        )

    def test_ptyOverLinkToDevice(self) -> None:
        """
        A pty: path that is a link to something other than a pseudo-terminal is refused.
        """
        link = os.path.join(self.workspace(), "modem")
        os.symlink("/dev/null", link)
        self.assertEqual(
            self.message("[bridge:a]\ndevice = pty:%s\n" % (link,)),
            "bridges.ini: [bridge:a] device: %s is a link to /dev/null, not to a "
            "pseudo-terminal: a pty: device only replaces a link it made" % (link,),
        )

    def test_deviceIsFile(self) -> None:
        """
        A device path holding a regular file is refused.
        """
        path = os.path.join(self.workspace(), "ttyUSB0")
        open(path, "w").close()
        self.assertEqual(
            self.message("[bridge:a]\ndevice = %s\n" % (path,)),
            "bridges.ini: [bridge:a] device: %s is a regular file, not a serial device" % (path,),
        )
