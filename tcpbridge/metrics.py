"""
The metrics and status server (the C{[service]} section's C{metrics =
ADDRESS:PORT}): Prometheus metrics at C{/metrics}, written by
C{prometheus-client} from the bridges' live counts, and the status page at
C{/status}, served by Twisted's web server in the service's own process.
"""

from typing import Any, Iterator, Tuple

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from twisted.application.service import Service
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tcpbridge.counters import REFUSALS
from tcpbridge.status import STATES, StatusPage, allStatus

#: Every refusal label, so that each series exists from the start.
REFUSAL_LABELS = tuple(label for _, label in REFUSALS) + ("other",)


class BridgeCollector:
    """
    A C{prometheus-client} collector that reads every bridge's counts at
    each scrape (a scrape during a session sees its bytes so far).
    """

    def __init__(self, bridges: Any, reactor: Any) -> None:
        self.bridges = bridges
        self.reactor = reactor

    def collect(self) -> Iterator[Metric]:
        statuses = allStatus(self.bridges, self.reactor.seconds())
        state = StateSetMetricFamily(
            "tcpbridge_state", "What the bridge is doing (DOWN: no serial line)", labels=["bridge"]
        )
        counters = {
            key: CounterMetricFamily("tcpbridge_" + name, help, labels=["bridge"])
            for key, name, help in (
                ("sessions", "sessions_opened", "Sessions opened"),
                ("device_losses", "device_losses", "Times the serial line was lost"),
                ("errors_sent", "errors_sent", "Errors answered to the host"),
                ("udp_dropped", "udp_datagrams_dropped", "UDP datagrams dropped"),
            )
        }
        refused = CounterMetricFamily(
            "tcpbridge_sessions_refused", "Connections refused, by reason", labels=["bridge", "reason"]
        )
        moved = CounterMetricFamily(
            "tcpbridge_bytes", "Bytes carried, by direction", labels=["bridge", "direction"]
        )
        for s in statuses:
            name = s["name"]
            state.add_metric([name], {st: st == s["state"] for st in STATES})
            for key, family in counters.items():
                family.add_metric([name], s[key])
            for label in REFUSAL_LABELS:
                refused.add_metric([name, label], s["refused"].get(label, 0))
            moved.add_metric([name, "to_peer"], s["bytes_to_peer"])
            moved.add_metric([name, "to_host"], s["bytes_to_host"])
        yield state
        yield from counters.values()
        yield refused
        yield moved


class MetricsPage(Resource):
    """
    C{/metrics}: the Prometheus text format, made in the reactor's thread
    (the counts are the reactor's).
    """

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        Resource.__init__(self)
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader("content-type", CONTENT_TYPE_LATEST)
        return generate_latest(self.registry)


def metricsSite(bridges: Any, reactor: Any) -> Site:
    """
    The web site: C{/metrics} and C{/status}.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(bridges, reactor))  # type: ignore[arg-type]
    root = Resource()
    root.putChild(b"metrics", MetricsPage(registry))  # type: ignore[arg-type]
    root.putChild(b"status", StatusPage(bridges, reactor))  # type: ignore[arg-type]
    site = Site(root)
    site.noisy = False
    site.displayTracebacks = False
    return site


class MetricsService(Service):
    """
    Listens on C{address} while it runs.  A port that cannot be bound is
    logged; the bridges go on without it.

    @ivar port: the listening port, while listening.
    """

    log = Logger()

    def __init__(self, bridges: Any, address: Tuple[str, int], reactor: Any) -> None:
        self.bridges = bridges
        self.address = address
        self.reactor = reactor
        self.port: Any = None

    def startService(self) -> None:
        Service.startService(self)
        interface, number = self.address
        try:
            self.port = self.reactor.listenTCP(
                number, metricsSite(self.bridges, self.reactor), interface=interface
            )
        except Exception as e:
            self.log.error(
                "metrics: cannot listen on {interface} port {port}: {error}",
                interface=interface, port=number, error=e,
            )
            return
        self.log.info(
            "metrics and status on http://{interface}:{port}/metrics and /status",
            interface=interface, port=self.port.getHost().port,
        )

    def stopService(self) -> Any:
        Service.stopService(self)
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
        return None
