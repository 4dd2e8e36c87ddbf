"""
The twistd services: one L{BridgeService} per bridge, gathered in a
L{MultiService}.

A bridge opens its serial line in C{startService} (never at import or in
C{makeService}) and closes it in C{stopService}.  A bridge whose device
cannot be opened logs why, with its name, and leaves the others running.
"""

from typing import Any, List, Optional

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem
from tcpbridge.serial import PtyDevice, openDevice


class BridgeService(Service):
    """
    One serial line and the modem behind it.
    """

    log = Logger()

    def __init__(self, config: BridgeConfig, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.config = config
        self.reactor = reactor
        self.setName(config.name)
        self.modem: Optional[Modem] = None
        self.transport: Any = None
        self.pty: Optional[PtyDevice] = None

    def startService(self) -> None:
        Service.startService(self)
        modem = Modem(self.config, self.reactor)
        c = self.config
        try:
            self.transport, self.pty = openDevice(
                c.device, modem, self.reactor, c.baudrate, c.bytesize, c.parity, c.stopbits,
                c.flowcontrol,
            )
        except Exception as e:
            self.log.error(
                "{bridge}: cannot open {device}: {error}",
                bridge=c.name,
                device=c.device,
                error=e,
            )
            return
        self.modem = modem
        self.log.info("{bridge}: serial line {device} open", bridge=c.name, device=c.device)

    def stopService(self) -> "Deferred[None]":
        Service.stopService(self)
        modem, self.modem = self.modem, None
        if modem is None:
            return succeed(None)
        modem.shutdown()
        self.transport.loseConnection()

        def release(result: object) -> None:
            if self.pty is not None:
                self.pty.close()
                self.pty = None
            self.log.info("{bridge}: serial line closed", bridge=self.config.name)

        return modem.lost.addCallback(release)


def makeBridges(configs: List[BridgeConfig], reactor: Any = None) -> MultiService:
    """
    A service holding one L{BridgeService} per bridge.
    """
    top = MultiService()
    for config in configs:
        BridgeService(config, reactor).setServiceParent(top)
    return top
