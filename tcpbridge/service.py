"""
The twistd services: one L{BridgeService} per bridge, gathered in a
L{MultiService}.

A bridge opens its serial line in C{startService} (never at import or in
C{makeService}) and closes it in C{stopService}.  A bridge whose device
cannot be opened logs why, with its name, and leaves the others running.
"""

from typing import Any, List, Optional, Union

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from tcpbridge import __version__
from tcpbridge.config import BridgeConfig
from tcpbridge.modem import Modem
from tcpbridge.lock import DeviceLock, DeviceUnusable
from tcpbridge.serial import PtyDevice, abortLine, openDevice


def _attempts(count: int) -> str:
    return "%d attempt%s" % (count, "" if count == 1 else "s")


def _describe(error: Exception) -> str:
    """
    Why a device could not be opened, in one phrase (an C{OSError}'s own
    words rather than its errno and repr).
    """
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


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

    #: Seconds between two log lines about a device that stays unavailable
    #: for the same reason.
    RETRY_REMIND = 600.0

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
        #: What to close once the transport is gone: the pty, or the lock
        #: of a real device.
        self.held: Optional[Union[PtyDevice, DeviceLock]] = None
        self._retry: Optional[IDelayedCall] = None
        self._delay = self.RETRY_FIRST
        self._failures = 0
        self._lastError: Optional[str] = None
        self._lastLogged = 0.0

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
            self.transport, self.held = openDevice(
                c.device, self.modem, self.reactor, c.baudrate, c.bytesize, c.parity,
                c.stopbits, c.flowcontrol,
            )
        except DeviceUnusable as e:
            self.log.error(
                "{bridge}: cannot open {device}: {error}; not trying again "
                "(correct the configuration and restart)",
                bridge=c.name,
                device=c.device,
                error=e,
            )
            return
        except Exception as e:
            self._failed(e)
            return
        if self._failures:
            self.log.info(
                "{bridge}: serial line {device} open again after {attempts}",
                bridge=c.name,
                device=c.device,
                attempts=_attempts(self._failures),
            )
        else:
            self.log.info("{bridge}: serial line {device} open", bridge=c.name, device=c.device)
        self._failures = 0
        self._lastError = None
        self._delay = self.RETRY_FIRST
        self.modem.lost.addCallback(self._lost)

    def _failed(self, error: Exception) -> None:
        """
        The device could not be opened: say so, and try again later.  The
        first failure is logged, then any change of the reason, and a
        reminder every L{RETRY_REMIND} seconds while it lasts.
        """
        c = self.config
        self._failures += 1
        delay = self._delay
        self._retryLater()
        reason = _describe(error)
        now = self.reactor.seconds()
        if self._failures == 1:
            self.log.error(
                "{bridge}: cannot open {device}: {error}; trying again in {delay:g} s, "
                "then at growing intervals of up to {most:g} s",
                bridge=c.name, device=c.device, error=reason, delay=delay, most=self.RETRY_MAX,
            )
        elif reason != self._lastError or now - self._lastLogged >= self.RETRY_REMIND:
            self.log.error(
                "{bridge}: still cannot open {device} after {attempts}: {error}; "
                "trying again in {delay:g} s",
                bridge=c.name, device=c.device, attempts=_attempts(self._failures),
                error=reason, delay=delay,
            )
        else:
            return
        self._lastError = reason
        self._lastLogged = now

    def _retryLater(self) -> None:
        self._retry = self.reactor.callLater(self._delay, self._open)
        self._delay = min(self._delay * 2, self.RETRY_MAX)

    def _lost(self, reason: object) -> None:
        self._release()
        if not self.running:
            return
        if self.modem is not None:
            self.modem.counters.deviceLosses += 1
        self.log.warn(
            "{bridge}: serial line {device} lost; trying to reopen it every {most:g} s "
            "at most until it comes back",
            bridge=self.name,
            device=self.config.device,
            most=self.RETRY_MAX,
        )
        self._failures = 1
        self._lastError = "lost"
        self._lastLogged = self.reactor.seconds()
        self._retryLater()

    def _release(self) -> None:
        self.transport = None
        if self.held is not None:
            self.held.close()
            self.held = None

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


class Bridges(MultiService):
    """
    Every bridge of one configuration; starting it logs the version, so
    that a log says what ran.
    """

    log = Logger()

    def startService(self) -> None:
        count = len(list(self))
        self.log.info(
            "tcpbridge {version} starting {bridges}",
            version=__version__,
            bridges="%d bridge%s" % (count, "" if count == 1 else "s"),
        )
        MultiService.startService(self)


def makeBridges(configs: List[BridgeConfig], reactor: Any = None) -> MultiService:
    """
    A service holding one L{BridgeService} per bridge.
    """
    top = Bridges()
    for config in configs:
        BridgeService(config, reactor).setServiceParent(top)
    return top
