"""
The twistd plugin's options and service maker:
C{twistd -n tcpbridge --config FILE}.
"""

import sys
from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from tcpbridge.config import ConfigError
from tcpbridge.reload import Supervisor
from tcpbridge.serviceconfig import readFile

#: Where the configuration is when C{--config} is not given: where the
#: installation steps of README.rst put it.
DEFAULT_CONFIG = "/etc/tcpbridge/tcpbridge.ini"

#: Exit status for a configuration that cannot be used (sysexits.h's
#: EX_CONFIG); the systemd unit does not restart on it.
EXIT_CONFIG = 78


class Options(usage.Options):
    """
    Command-line options of the tcpbridge plugin.
    """

    optParameters = [
        ["config", "c", DEFAULT_CONFIG, "The .ini file describing the bridges."],
    ]


def makeService(options: Any) -> IService:
    """
    Read the configuration and build one service per bridge, reloaded
    on C{SIGHUP}.

    A bad configuration stops start-up with one line on stderr, no
    traceback, and exit status L{EXIT_CONFIG}.
    """
    try:
        configs, settings = readFile(options["config"])
    except ConfigError as e:
        sys.stderr.write("tcpbridge: %s\n" % (e,))
        raise SystemExit(EXIT_CONFIG)
    return Supervisor(options["config"], configs, settings)
