"""
The values of the AT# parameters a bridge holds, per profile id, and their
persistence in the bridge's profile file.

The parameters themselves are declared by the service modules (see
L{tcpbridge.parameters} and L{tcpbridge.registry}).
"""

import errno
import json
import os
from typing import Any, Dict, Iterable, Mapping, Optional

from twisted.logger import Logger

from tcpbridge.parameters import PROFILE_IDS, BadValue, Value, isDottedQuad
from tcpbridge.registry import PARAMETERS

__all__ = ["PARAMETERS", "PROFILE_IDS", "BadValue", "Profile", "ProfileError", "isDottedQuad"]


class ProfileError(Exception):
    """
    A saved profile file that cannot be used; the message says why.
    """


class Profile:
    """
    The parameter values of one bridge, for each profile id, and their
    persistence in a profile file.

    Profiled parameters (those of the IP services) have a value per profile
    id; the others (the GPRS settings) have one value, shared.  C{settings} holds the
    modem's own settings (echo, result codes, ...) as last saved by
    C{AT&W}.
    """

    log = Logger()

    def __init__(
        self, defaults: Mapping[str, Value] = {}, path: Optional[str] = None, bridge: str = ""
    ) -> None:
        """
        @param bridge: the bridge's name, for the log.
        """
        self.path = path
        self.bridge = bridge
        self.defaults: Dict[str, Value] = {
            name: defaults.get(name[1:].lower(), p.default) for name, p in PARAMETERS.items()
        }
        self.values: Dict[int, Dict[str, Value]] = {}
        self.settings: Dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        """
        Return every value to the power-on (factory) defaults.
        """
        shared = dict(self.defaults)
        self.values = {
            pid: {n: v for n, v in shared.items() if PARAMETERS[n].profiled} for pid in PROFILE_IDS
        }
        self.shared = {n: v for n, v in shared.items() if not PARAMETERS[n].profiled}

    def get(self, name: str, pid: int = 1) -> Value:
        """
        The value of parameter C{name} in profile C{pid}.
        """
        if PARAMETERS[name].profiled:
            return self.values[pid][name]
        return self.shared[name]

    def set(self, name: str, text: str, pid: int = 1) -> Value:
        """
        Check C{text} against parameter C{name} and store it in C{pid}.

        @raise BadValue: if the parameter does not accept it.
        """
        value = PARAMETERS[name].parse(text)
        if PARAMETERS[name].profiled:
            self.values[pid][name] = value
        else:
            self.shared[name] = value
        return value

    def lines(self, names: Iterable[str], pid: int = 1) -> Iterable[str]:
        """
        C{#NAME: value} lines, as C{AT#VTCP} and C{AT#VALL} show them.
        """
        for name in names:
            yield "%s: %s" % (name, PARAMETERS[name].format(self.get(name, pid)))

    # -- persistence ---------------------------------------------------------

    def dump(self) -> Dict[str, Any]:
        """
        Everything the profile file holds, as plain data.
        """
        return {
            "format": "tcpbridge-profile",
            "version": 1,
            "profiles": {str(pid): dict(values) for pid, values in self.values.items()},
            "shared": dict(self.shared),
            "settings": dict(self.settings),
        }

    def save(self) -> None:
        """
        Write the profile file atomically: a temporary file beside it,
        flushed to disk, then renamed over it, so that a crash or a power
        cut leaves the old file or the new one, never a mixture.
        """
        if self.path is None:
            return
        data = json.dumps(self.dump(), indent=1, sort_keys=True).encode("utf-8")
        directory = os.path.dirname(os.path.abspath(self.path))
        temporary = "%s.%d.tmp" % (self.path, os.getpid())
        # 0600: the file holds the APN and ISP passwords.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, "nothing written")
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        dirfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)

    def persist(self) -> bool:
        """
        L{save}, logging a failure.

        @return: whether the file was saved.
        """
        try:
            self.save()
        except OSError as e:
            self.log.error(
                "{bridge}: cannot save the profile to {path}: {error}",
                bridge=self.bridge,
                path=self.path,
                error=e,
            )
            return False
        return True

    def restore(self) -> bool:
        """
        L{load}, logging a profile that cannot be used (the values are then
        left as they were).

        @return: whether a file was read.
        """
        try:
            return self.load()
        except ProfileError as e:
            self.log.error("{bridge}: {error}; using the defaults", bridge=self.bridge, error=e)
            return False

    def load(self) -> bool:
        """
        Read the values saved in the profile file, if there is one.

        @return: whether a file was read.
        @raise ProfileError: if the file exists but cannot be used; the
            values are then left as they were.
        """
        if self.path is None:
            return False
        try:
            with open(self.path, "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as e:
            raise ProfileError("%s: unreadable profile: %s" % (self.path, e))
        try:
            if data.get("format") != "tcpbridge-profile":
                raise ProfileError("not a tcpbridge profile")
            values = {pid: dict(self.values[pid]) for pid in PROFILE_IDS}
            shared = dict(self.shared)
            for pid in PROFILE_IDS:
                for name, value in data["profiles"][str(pid)].items():
                    if name in PARAMETERS and PARAMETERS[name].profiled:
                        values[pid][name] = PARAMETERS[name].parse(str(value))
            for name, value in data.get("shared", {}).items():
                if name in PARAMETERS and not PARAMETERS[name].profiled:
                    shared[name] = PARAMETERS[name].parse(str(value))
            settings = data.get("settings", {})
            if not isinstance(settings, dict):
                raise ProfileError("settings are not a table")
        except ProfileError as e:
            raise ProfileError("%s: %s" % (self.path, e))
        except (AttributeError, KeyError, TypeError, BadValue) as e:
            raise ProfileError("%s: broken profile: %s" % (self.path, e))
        self.values, self.shared, self.settings = values, shared, settings
        return True
