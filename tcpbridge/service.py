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
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem
from tcpbridge.serial import PtyDevice, abortLine, openDevice


class BridgeService(Service):
    """
    One serial line and the modem behind it.

    A device that cannot be opened, or that disappears (a USB adapter
    pulled out, an I/O error), is retried with a growing delay; when it
    comes back the modem is in command mode with its parameters.  Nothing of
    this touches the other bridges.
    """

    log = Logger()

    #: Seconds before the first retry, and the most between two.
    RETRY_FIRST = 0.5
    RETRY_MAX = 30.0

    #: Seconds a stop waits for the host to take what is buffered for it.
    STOP_GRACE = 2.0

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
        self._retry: Optional[IDelayedCall] = None
        self._delay = self.RETRY_FIRST
        self._failures = 0

    def startService(self) -> None:
        Service.startService(self)
        if self.modem is None:
            try:
                self.modem = Modem(self.config, self.reactor)
            except Exception as e:
                self.log.error("{bridge}: cannot start: {error}", bridge=self.name, error=e)
                return
        self._open()

    def _open(self) -> None:
        self._retry = None
        c = self.config
        assert self.modem is not None
        try:
            self.transport, self.pty = openDevice(
                c.device, self.modem, self.reactor, c.baudrate, c.bytesize, c.parity,
                c.stopbits, c.flowcontrol,
            )
        except Exception as e:
            if self._failures == 0:
                self.log.error(
                    "{bridge}: cannot open {device}: {error}; trying again until it can",
                    bridge=c.name,
                    device=c.device,
                    error=e,
                )
            self._failures += 1
            self._retryLater()
            return
        if self._failures:
            self.log.info(
                "{bridge}: serial line {device} open again after {tries} attempts",
                bridge=c.name,
                device=c.device,
                tries=self._failures,
            )
        else:
            self.log.info("{bridge}: serial line {device} open", bridge=c.name, device=c.device)
        self._failures = 0
        self._delay = self.RETRY_FIRST
        self.modem.lost.addCallback(self._lost)

    def _retryLater(self) -> None:
        self._retry = self.reactor.callLater(self._delay, self._open)
        self._delay = min(self._delay * 2, self.RETRY_MAX)

    def _lost(self, reason: object) -> None:
        self._release()
        if not self.running:
            return
        self.log.warn(
            "{bridge}: serial line {device} lost; reopening it when it comes back",
            bridge=self.name,
            device=self.config.device,
        )
        self._failures = 1
        self._retryLater()

    def _release(self) -> None:
        self.transport = None
        if self.pty is not None:
            self.pty.close()
            self.pty = None

    def stopService(self) -> "Deferred[None]":
        Service.stopService(self)
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        modem, transport = self.modem, self.transport
        if modem is None:
            return succeed(None)
        if transport is None:
            modem.close()
            return succeed(None)
        modem.shutdown()
        transport.loseConnection()
        # What is still buffered for the host gets a moment to drain; a host
        # that holds CTS or reads nothing must not hold up the stop.
        abort = self.reactor.callLater(self.STOP_GRACE, abortLine, transport)

        def closed(result: object) -> None:
            if abort.active():
                abort.cancel()
            modem.close()
            self.log.info("{bridge}: serial line closed", bridge=self.name)

        return modem.lost.addCallback(closed)


def makeBridges(configs: List[BridgeConfig], reactor: Any = None) -> MultiService:
    """
    A service holding one L{BridgeService} per bridge.
    """
    top = MultiService()
    for config in configs:
        BridgeService(config, reactor).setServiceParent(top)
    return top
