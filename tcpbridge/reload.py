"""
The process around the bridges: it reads the C{.ini} file again on
C{SIGHUP} and applies what changed, runs the metrics and status server,
and tells systemd when it is ready.

A reload starts the bridges that are new, stops the ones that are gone,
and restarts those whose settings changed (their section, with
C{[DEFAULT]} applied); every other bridge is not touched: it keeps its
session, its listening socket and the parameters its host set.  A file
that is bad anywhere changes nothing.
"""

import signal
from typing import Any, Dict, List, Optional

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred, succeed
from twisted.logger import Logger

from tcpbridge.config import BridgeConfig, ConfigError
from tcpbridge.notify import notify
from tcpbridge.service import BridgeService, makeBridges
from tcpbridge.serviceconfig import ServiceConfig, readFile


def _names(names: List[str]) -> str:
    return ", ".join(names) if names else "none"


def reconfigure(
    bridges: MultiService, configs: List[BridgeConfig], reactor: Any
) -> "Deferred[Dict[str, List[str]]]":
    """
    Bring the running C{bridges} in line with C{configs}: stop the removed
    and changed ones, wait until they have let go of their devices and
    ports, then start the added and changed ones.

    @return: a Deferred firing with the names of the bridges C{added},
        C{removed}, C{restarted} and C{unchanged}.
    """
    running: Dict[str, BridgeService] = {s.name: s for s in bridges}  # type: ignore[attr-defined]
    wanted = {c.name: c for c in configs}
    changes: Dict[str, List[str]] = {
        "added": [n for n in wanted if n not in running],
        "removed": [n for n in running if n not in wanted],
        "restarted": [n for n in wanted if n in running and running[n].config != wanted[n]],
        "unchanged": [n for n in wanted if n in running and running[n].config == wanted[n]],
    }
    stopping = [
        maybeDeferred(running[n].disownServiceParent)
        for n in changes["removed"] + changes["restarted"]
    ]

    def start(_: object) -> Dict[str, List[str]]:
        for name in wanted:
            if name in changes["added"] or name in changes["restarted"]:
                BridgeService(wanted[name], reactor).setServiceParent(bridges)
        return changes

    return gatherResults(stopping, consumeErrors=True).addCallback(start)


class Supervisor(MultiService):
    """
    The whole process: the L{Bridges} of the file at C{path}, reloaded on
    C{SIGHUP}, and the metrics and status server if the file asks for it.

    @ivar bridges: the running bridges.
    @ivar metrics: the metrics server's service, while there is one.
    """

    log = Logger()

    def __init__(
        self,
        path: str,
        configs: List[BridgeConfig],
        settings: Optional[ServiceConfig] = None,
        reactor: Any = None,
    ) -> None:
        MultiService.__init__(self)
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.path = path
        self.reactor = reactor
        self.settings = settings or ServiceConfig()
        self.bridges = makeBridges(configs, reactor)
        self.bridges.setServiceParent(self)
        self.metrics: Optional[Any] = None
        self._metricsFor(self.settings)
        self._reloading: Optional[Deferred] = None
        self._again = False
        self._previousHandler: Any = None
        #: Reloads done (applied or refused).
        self.reloads = 0

    def _metricsFor(self, settings: ServiceConfig) -> "Deferred[None]":
        """
        Run the metrics server C{settings} asks for (none: stop it).
        """
        old, self.metrics = self.metrics, None
        stopped = succeed(None) if old is None else maybeDeferred(old.disownServiceParent)
        if settings.metrics is not None:
            from tcpbridge.metrics import MetricsService

            metrics = self.metrics = MetricsService(self.bridges, settings.metrics, self.reactor)

            def start(_: object) -> None:
                metrics.setServiceParent(self)

            stopped.addCallback(start)
        return stopped

    def startService(self) -> None:
        MultiService.startService(self)
        self._previousHandler = signal.signal(signal.SIGHUP, self._hangup)
        # Every bridge is now open, or retrying on its own.
        notify("READY=1")

    def stopService(self) -> "Deferred[None]":
        if self._previousHandler is not None:
            signal.signal(signal.SIGHUP, self._previousHandler)
            self._previousHandler = None
        notify("STOPPING=1")
        return MultiService.stopService(self)

    def _hangup(self, signum: int, frame: object) -> None:
        # A signal handler runs between any two bytecodes: the reload itself
        # runs in the reactor's turn.
        self.reactor.callFromThread(self.reload)

    def reload(self) -> "Deferred[None]":
        """
        Read the file again and apply it; a reload asked for while one is
        under way runs once that one is done.
        """
        if self._reloading is not None:
            self._again = True
            return self._reloading
        notify("RELOADING=1")
        done = self._reloading = self._reload()

        def finished(result: object) -> None:
            self._reloading = None
            self.reloads += 1
            notify("READY=1")
            if self._again:
                self._again = False
                self.reload()

        return done.addBoth(finished)

    def _reload(self) -> "Deferred[None]":
        try:
            configs, settings = readFile(self.path)
        except ConfigError as e:
            self.log.error(
                "configuration reload refused: {error}; the running bridges go on as they were",
                error=e,
            )
            return succeed(None)
        self.log.info("reloading the configuration from {path}", path=self.path)

        def report(changes: Dict[str, List[str]]) -> None:
            self.log.info(
                "configuration reloaded: added {added}; removed {removed}; "
                "restarted {restarted}; {unchanged} unchanged",
                added=_names(changes["added"]),
                removed=_names(changes["removed"]),
                restarted=_names(changes["restarted"]),
                unchanged=len(changes["unchanged"]),
            )

        d = reconfigure(self.bridges, configs, self.reactor).addCallback(report)
        if settings != self.settings:
            self.settings = settings
            d.addCallback(lambda _: self._metricsFor(settings))

        def failed(f: Any) -> None:
            self.log.failure("configuration reload failed", f)

        return d.addErrback(failed)
