"""
The twistd plugin's options and service maker:
C{twistd -n tcpbridge --config FILE}.
"""

import sys
from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from tcpbridge.config import ConfigError, readConfig
from tcpbridge.service import makeBridges

DEFAULT_CONFIG = "/etc/tcpbridge.ini"


class Options(usage.Options):
    """
    Command-line options of the tcpbridge plugin.
    """

    optParameters = [
        ["config", "c", DEFAULT_CONFIG, "The .ini file describing the bridges."],
    ]


def makeService(options: Any) -> IService:
    """
    Read the configuration and build one service per bridge.

    A bad configuration stops start-up with one line on stderr, no
    traceback.
    """
    try:
        configs = readConfig(options["config"])
    except ConfigError as e:
        sys.stderr.write("tcpbridge: %s\n" % (e,))
        raise SystemExit(1)
    return makeBridges(configs)
