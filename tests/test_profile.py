"""
Tests for L{tcpbridge.profile}: the AT# parameter values of a bridge, per
profile id, and their persistence in the profile file,
and for a L{Modem} that finds its parameters and settings again after a
restart.
"""

import errno
import json
import os
from typing import Any, Dict, List, Optional

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem
from tcpbridge.profile import PARAMETERS, BadValue, Profile, ProfileError
from tests.test_commands import SAMPLES, RecordingSerial

OK = b"\r\nOK\r\n"


def info(line: str) -> bytes:
    """
    A verbose information line.
    """
    return b"\r\n" + line.encode("latin-1") + b"\r\n"


class ProfileTests(SynchronousTestCase):
    """
    Tests for L{Profile}.
    """

    def setUp(self) -> None:
        self.directory = self.mktemp()
        os.makedirs(self.directory)
        self.path = os.path.join(self.directory, "profile.json")

    def saved(self, **values: str) -> Profile:
        """
        A profile at C{self.path} with C{values} (names without C{#}) set in
        profile 1, saved.
        """
        profile = Profile(path=self.path)
        for name, text in values.items():
            profile.set("#" + name.upper(), text)
        profile.save()
        return profile

    def write(self, data: Any) -> None:
        """
        Put C{data} (text, or data written as JSON) in the profile file.
        """
        text = data if isinstance(data, str) else json.dumps(data)
        with open(self.path, "w") as f:
            f.write(text)

    def snapshot(self, profile: Profile) -> Any:
        """
        Everything a profile holds, to compare before and after.
        """
        return json.dumps(profile.dump(), sort_keys=True)

    # -- values ------------------------------------------------------------------

    def test_defaults(self) -> None:
        """
        A new profile holds every parameter's power-on default, in both profile ids.
        """
        profile = Profile()
        for name, parameter in PARAMETERS.items():
            for pid in (1, 2):
                self.assertEqual(profile.get(name, pid), parameter.default, (name, pid))

    def test_configuredDefaults(self) -> None:
        """
        Values given by the configuration (keys without #) replace the defaults in both profiles.
        """
        profile = Profile({"tcpport": 23, "tcpserv": "10.0.0.9"})
        self.assertEqual((profile.get("#TCPPORT", 1), profile.get("#TCPPORT", 2)), (23, 23))
        self.assertEqual(profile.get("#TCPSERV", 2), "10.0.0.9")

    def test_setPerProfile(self) -> None:
        """
        A TCP parameter holds one value per profile id.
        """
        profile = Profile()
        profile.set("#TCPPORT", "23", 1)
        profile.set("#TCPPORT", "24", 2)
        self.assertEqual((profile.get("#TCPPORT", 1), profile.get("#TCPPORT", 2)), (23, 24))

    def test_setDefaultProfile(self) -> None:
        """
        Without a profile id, set and get address profile 1.
        """
        profile = Profile()
        profile.set("#DLEMODE", "0")
        self.assertEqual((profile.get("#DLEMODE"), profile.get("#DLEMODE", 2)), (0, 1))

    def test_setReturnsValue(self) -> None:
        """
        set returns the value as stored: numbers as integers.
        """
        self.assertEqual(Profile().set("#TCPPORT", "23"), 23)
        self.assertEqual(Profile().set("#TCPSERV", "host.example.com"), "host.example.com")

    def test_shared(self) -> None:
        """
        A GPRS parameter has one value, shared by both profile ids.
        """
        profile = Profile()
        profile.set("#APNSERV", "internet", 2)
        self.assertEqual(profile.get("#APNSERV", 1), "internet")
        self.assertEqual(profile.get("#APNSERV", 2), "internet")

    def test_setBadValue(self) -> None:
        """
        A value the parameter does not allow raises BadValue and changes nothing.
        """
        profile = Profile()
        for name, (good, shown, bad) in SAMPLES.items():
            self.assertRaises(BadValue, profile.set, name, bad)
            self.assertEqual(profile.get(name), PARAMETERS[name].default, name)

    def test_reset(self) -> None:
        """
        reset returns every value to the configured defaults.
        """
        profile = Profile({"tcpport": 23})
        profile.set("#TCPPORT", "99", 2)
        profile.set("#APNSERV", "internet")
        profile.reset()
        self.assertEqual(profile.get("#TCPPORT", 2), 23)
        self.assertEqual(profile.get("#APNSERV"), "")

    def test_lines(self) -> None:
        """
        lines gives #NAME: value lines, strings in quotes, for the profile asked.
        """
        profile = Profile()
        profile.set("#TCPPORT", "24", 2)
        self.assertEqual(
            list(profile.lines(["#TCPSERV", "#TCPPORT"], 2)),
            ['#TCPSERV: "255.255.255.255"', "#TCPPORT: 24"],
        )

    # -- saving ------------------------------------------------------------------

    def test_saveWithoutPath(self) -> None:
        """
        Without a path, save writes nothing and load reads nothing.
        """
        profile = Profile()
        profile.save()
        self.assertIs(profile.load(), False)
        self.assertEqual(os.listdir(self.directory), [])

    def test_saveWritesJSON(self) -> None:
        """
        save writes a JSON file with the format marker and every value.
        """
        profile = self.saved(tcpport="2323", apnserv="internet")
        profile.set("#TCPPORT", "2002", 2)
        profile.settings = {"echo": 0}
        profile.save()
        with open(self.path) as f:
            data = json.load(f)
        self.assertEqual(data["format"], "tcpbridge-profile")
        self.assertEqual(data["profiles"]["1"]["#TCPPORT"], 2323)
        self.assertEqual(data["profiles"]["2"]["#TCPPORT"], 2002)
        self.assertEqual(data["shared"]["#APNSERV"], "internet")
        self.assertEqual(data["settings"], {"echo": 0})

    def test_saveLeavesNoTemporaryFile(self) -> None:
        """
        After save the directory holds the profile file and nothing else.
        """
        self.saved(tcpport="23")
        self.saved(tcpport="24")
        self.assertEqual(os.listdir(self.directory), ["profile.json"])

    def test_saveReplaces(self) -> None:
        """
        A second save replaces the first file's values.
        """
        self.saved(tcpport="23")
        self.saved(tcpport="24")
        with open(self.path) as f:
            self.assertEqual(json.load(f)["profiles"]["1"]["#TCPPORT"], 24)

    def test_saveSyncsBeforeRename(self) -> None:
        """
        save flushes the new file to disk before renaming it over the old one, then syncs the directory.
        """
        calls: List[str] = []
        realFsync, realReplace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            calls.append("fsync")
            realFsync(fd)

        def replace(source: str, destination: str) -> None:
            calls.append("replace")
            realReplace(source, destination)

        self.patch(os, "fsync", fsync)
        self.patch(os, "replace", replace)
        self.saved(tcpport="23")
        self.assertEqual(calls, ["fsync", "replace", "fsync"])

    def test_crashBeforeRename(self) -> None:
        """
        A crash between writing the new file and renaming it leaves the old file intact.
        """
        self.saved(tcpport="23")
        with open(self.path, "rb") as f:
            before = f.read()

        def replace(source: str, destination: str) -> None:
            raise OSError(errno.EIO, "crash")

        self.patch(os, "replace", replace)
        profile = Profile(path=self.path)
        profile.set("#TCPPORT", "24")
        self.assertRaises(OSError, profile.save)
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), before)
        fresh = Profile(path=self.path)
        self.assertIs(fresh.load(), True)
        self.assertEqual(fresh.get("#TCPPORT"), 23)

    def test_crashDuringWrite(self) -> None:
        """
        A crash half-way through writing the new file leaves the old file intact.
        """
        self.saved(tcpport="23")
        with open(self.path, "rb") as f:
            before = f.read()
        realWrite = os.write

        def write(fd: int, data: bytes) -> int:
            realWrite(fd, data[: len(data) // 2])
            raise OSError(errno.EIO, "crash")

        self.patch(os, "write", write)
        profile = Profile(path=self.path)
        profile.set("#TCPPORT", "24")
        self.assertRaises(OSError, profile.save)
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_shortWrite(self) -> None:
        """
        A short write (the disk filling up) never replaces the old file with a truncated one.
        """
        self.saved(tcpport="23")
        with open(self.path, "rb") as f:
            before = f.read()
        realWrite = os.write

        def write(fd: int, data: bytes) -> int:
            return realWrite(fd, data[: len(data) // 2])

        self.patch(os, "write", write)
        profile = Profile(path=self.path)
        profile.set("#TCPPORT", "24")
        try:
            profile.save()
        except OSError:
            pass
        with open(self.path, "rb") as f:
            after = f.read()
        if after != before:
            # Either the old file, or the whole new one: never a truncation.
            reread = Profile(path=self.path)
            self.assertTrue(reread.load())
            self.assertEqual(reread.get("#TCPPORT"), 24)

    # -- loading -------------------------------------------------------------------

    def test_loadRestores(self) -> None:
        """
        load reads back every value and the settings a save wrote.
        """
        profile = Profile(path=self.path)
        for name, (good, shown, bad) in SAMPLES.items():
            profile.set(name, good)
        profile.set("#TCPPORT", "2002", 2)
        profile.settings = {"echo": 0, "cmee": 1}
        profile.save()
        fresh = Profile(path=self.path)
        self.assertIs(fresh.load(), True)
        self.assertEqual(self.snapshot(fresh), self.snapshot(profile))
        self.assertEqual(fresh.get("#TCPPORT", 2), 2002)
        self.assertEqual(fresh.settings, {"echo": 0, "cmee": 1})

    def test_loadMissing(self) -> None:
        """
        load with no file returns False and changes nothing.
        """
        profile = Profile({"tcpport": 23}, path=self.path)
        before = self.snapshot(profile)
        self.assertIs(profile.load(), False)
        self.assertEqual(self.snapshot(profile), before)

    def assertBroken(self, data: Any) -> ProfileError:
        """
        Loading a file holding C{data} raises L{ProfileError} naming the
        file, and changes nothing.
        """
        self.write(data)
        profile = Profile({"tcpport": 23}, path=self.path)
        profile.set("#DLEMODE", "0", 2)
        profile.settings = {"echo": 1}
        before = self.snapshot(profile)
        error = self.assertRaises(ProfileError, profile.load)
        self.assertIn(self.path, str(error))
        self.assertEqual(self.snapshot(profile), before)
        return error

    def valid(self) -> Dict[str, Any]:
        """
        The data of a valid profile file, with TCPPORT 2323 in profile 1.
        """
        profile = Profile()
        profile.set("#TCPPORT", "2323")
        return profile.dump()

    def test_loadInvalidJSON(self) -> None:
        """
        A file that is not JSON is a ProfileError.
        """
        self.assertBroken('{"format": "tcpbridge-profile", "profiles": {')

    def test_loadNotUTF8(self) -> None:
        """
        A file that is not UTF-8 is a ProfileError.
        """
        with open(self.path, "wb") as f:
            f.write(b"\xff\xfe{}")
        profile = Profile(path=self.path)
        self.assertRaises(ProfileError, profile.load)

    def test_loadEmpty(self) -> None:
        """
        An empty file (as a crash of a non-atomic writer would leave) is a ProfileError.
        """
        self.assertBroken("")

    def test_loadWrongFormat(self) -> None:
        """
        A JSON file without the tcpbridge-profile marker is a ProfileError.
        """
        data = self.valid()
        data["format"] = "something-else"
        self.assertBroken(data)

    def test_loadNotAnObject(self) -> None:
        """
        A JSON file holding a list is a ProfileError.
        """
        self.assertBroken([1, 2])

    def test_loadBadValue(self) -> None:
        """
        TCPPORT 70000 in profile 2 is a ProfileError, and the good values of profile 1 are not taken either.
        """
        data = self.valid()
        data["profiles"]["2"]["#TCPPORT"] = 70000
        error = self.assertBroken(data)
        self.assertIn("70000", str(error))

    def test_loadBadSharedValue(self) -> None:
        """
        A shared value the parameter does not allow is a ProfileError.
        """
        data = self.valid()
        data["shared"]["#DNSSERV1"] = "dns.example.com"
        self.assertBroken(data)

    def test_loadMissingProfile(self) -> None:
        """
        A file without profile 2 is a ProfileError.
        """
        data = self.valid()
        del data["profiles"]["2"]
        self.assertBroken(data)

    def test_loadSettingsNotTable(self) -> None:
        """
        Settings that are not a table are a ProfileError.
        """
        data = self.valid()
        data["settings"] = [0, 1]
        self.assertBroken(data)

    def test_loadUnknownParameterIgnored(self) -> None:
        """
        A parameter the bridge does not know is ignored; the rest is read.
        """
        data = self.valid()
        data["profiles"]["1"]["#NOSUCH"] = 1
        self.write(data)
        profile = Profile(path=self.path)
        self.assertIs(profile.load(), True)
        self.assertEqual(profile.get("#TCPPORT"), 2323)


class RestartTests(SynchronousTestCase):
    """
    A L{Modem} with a profile file, stopped and started again: what the
    host set is still there (parameters persist).
    """

    def setUp(self) -> None:
        self.path = self.mktemp()
        self.events: List[Dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def start(self, serial: Optional[Dict[str, Any]] = None, **config: Any) -> None:
        """
        Start (or restart) the bridge's modem on a fresh serial line.
        """
        self.modem = Modem(BridgeConfig(profile=self.path, **config), MemoryReactorClock())
        self.transport = StringTransport()
        if serial is not None:
            self.transport._serial = RecordingSerial(self.transport, **serial)
        self.modem.makeConnection(self.transport)

    def command(self, line: bytes) -> bytes:
        """
        Send one command line; return the answer.
        """
        self.transport.clear()
        self.modem.dataReceived(line + b"\r")
        return self.transport.value()

    def errors(self) -> List[Dict[str, Any]]:
        """
        The error events logged so far.
        """
        return [e for e in self.events if e.get("log_level") == LogLevel.error]

    def test_settingsSurviveWithSave(self) -> None:
        """
        TCPPORT, TCPSERV, echo off and CMEE on, saved by AT&W, are all there after a restart.
        """
        self.start()
        self.command(b"AT#TCPPORT=2323")
        self.command(b'AT#TCPSERV="127.0.0.2"')
        self.command(b"ATE0")
        self.command(b"AT+CMEE=1")
        self.assertEqual(self.command(b"AT&W"), OK)
        self.start()
        self.assertEqual(self.command(b"AT+NOSUCH"), info("#CME ERROR: 34817"))
        self.assertEqual(self.command(b"AT#TCPPORT?"), info("#TCPPORT: 2323") + OK)
        self.assertEqual(self.command(b"AT#TCPSERV?"), info('#TCPSERV: "127.0.0.2"') + OK)

    def test_parametersSurviveWithoutSave(self) -> None:
        """
        Parameters are saved on every change: they are there after a restart without AT&W.
        """
        self.start()
        self.command(b"AT#TCPPORT=2323")
        self.command(b'AT#TCPSERV="127.0.0.2"')
        self.command(b'AT#TCPPORT=2,"2002"')
        self.start()
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), info("#TCPPORT: 2323") + OK)
        self.assertEqual(self.command(b"AT#TCPSERV?"), info('#TCPSERV: "127.0.0.2"') + OK)
        self.assertIn(info("#TCPPORT: 2002"), self.command(b"AT#VTCP=2"))

    def test_settingsNeedSave(self) -> None:
        """
        Echo off without AT&W is not kept: after a restart echo is on again.
        """
        self.start()
        self.command(b"ATE0")
        self.command(b"AT#TCPPORT=2323")
        self.start()
        self.assertEqual(self.command(b"AT"), b"AT\r" + OK)

    def test_everyParameterSurvives(self) -> None:
        """
        Every parameter of PARAMETERS set by the host is there after a restart.
        """
        self.start()
        self.command(b"ATE0")
        for name, (good, shown, bad) in SAMPLES.items():
            value = '"%s"' % (good,) if PARAMETERS[name].quoted else good
            line = ("AT%s=%s" % (name, value)).encode("latin-1")
            self.assertEqual(self.command(line), OK, name)
        self.start()
        self.command(b"ATE0")
        answer = self.command(b"AT#VALL")
        for name, (good, shown, bad) in SAMPLES.items():
            self.assertIn(info("%s: %s" % (name, shown)), answer)

    def test_speedSurvives(self) -> None:
        """
        A speed set by AT+IPR and saved by AT&W is applied to the port when the line opens again.
        """
        self.start()
        self.command(b"AT+IPR=9600")
        self.command(b"AT&W")
        self.start(serial={})
        self.assertEqual([s[:2] for s in self.transport._serial.sets], [("baudrate", 9600)])

    def test_factorySurvives(self) -> None:
        """
        AT&F is a change like any other: the configured values are there after a restart.
        """
        self.start(parameters={"tcpport": 23})
        self.command(b"AT#TCPPORT=99")
        self.command(b"AT&F")
        self.start(parameters={"tcpport": 23})
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), info("#TCPPORT: 23") + OK)

    def test_noFile(self) -> None:
        """
        With no profile file yet, the modem starts with the defaults and logs no error.
        """
        self.start()
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), info("#TCPPORT: 0") + OK)
        self.assertEqual(self.errors(), [])

    def brokenStart(self, text: str, **config: Any) -> None:
        """
        Start with a profile file holding C{text}; check one error naming
        the file is logged.
        """
        with open(self.path, "w") as f:
            f.write(text)
        self.start(**config)
        errors = self.errors()
        self.assertEqual(len(errors), 1, errors)
        self.assertIn(self.path, formatEvent(errors[0]))

    def test_brokenFile(self) -> None:
        """
        A profile file that is not JSON: the modem starts with the defaults and logs one error naming it.
        """
        self.brokenStart("{not json")
        self.assertEqual(self.command(b"AT"), b"AT\r" + OK)
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), info("#TCPPORT: 0") + OK)

    def test_brokenFileBadValue(self) -> None:
        """
        A profile file with TCPPORT 70000: the modem starts with the configured defaults and logs one error.
        """
        profile = Profile()
        profile.set("#DLEMODE", "0")
        data = profile.dump()
        data["profiles"]["1"]["#TCPPORT"] = 70000
        self.brokenStart(json.dumps(data), parameters={"tcpport": 23})
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), info("#TCPPORT: 23") + OK)
        self.assertEqual(self.command(b"AT#DLEMODE?"), info("#DLEMODE: 1") + OK)

    def test_brokenFileWrongFormat(self) -> None:
        """
        A JSON file that is not a tcpbridge profile: defaults, and one error naming it.
        """
        self.brokenStart(json.dumps({"format": "other", "settings": {"echo": 0}}))
        self.assertEqual(self.command(b"AT"), b"AT\r" + OK)

    def test_restoreBrokenFile(self) -> None:
        """
        ATZ with a profile file broken since start-up answers OK with the defaults and logs an error.
        """
        self.start()
        self.command(b"AT#TCPPORT=2323")
        with open(self.path, "w") as f:
            f.write("{not json")
        self.assertEqual(self.command(b"ATZ"), b"ATZ\r" + OK)
        self.assertEqual(len(self.errors()), 1)
        self.command(b"ATE0")
        self.assertEqual(self.command(b"AT#TCPPORT?"), info("#TCPPORT: 0") + OK)
