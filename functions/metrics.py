"""GET /metrics: Prometheus' text format (prometheus_client renders it; this module is the only one that
imports it, so no other route pays for it). Admin-authenticated unless METRICS_PUBLIC=true (a scraper
without the admin token).

Gauges come from the store at scrape time (the truth on every instance): deployments by status, failed
deployments by step and code, webhook deliveries by result, the local queue's depth and retried tasks.
Counters and step timings are this process's own (shared.platform.tally): per instance on Cloud Functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from functions.routing import Call
from shared.deploy import census
from shared.platform import tally
from shared.services import Services

PREFIX = "orchestrator_"
COUNTERS = {  # tally name -> (help, label names)
    "upstream_calls": (
        "Calls to Runpod, the Hub and webhook receivers by outcome (this process)",
        ("service", "outcome"),
    ),
    "step_failures": ("Deployment steps that failed the deployment, by step and code (this process)", ("step", "code")),
    "task_retries": ("Task deliveries after the first, by kind (this process)", ("kind",)),
    "budget_actions": (
        "Budget thresholds announced (warning, exceeded) and actions enforced or lifted, by action (this process)",
        ("action", "event"),
    ),
}
TIMINGS = {"step_duration_seconds": ("How long deployment steps ran, by step (this process)", ("step",))}


class _Scrape(Collector):
    def __init__(self, svc: Services):
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        yield from self._store()
        yield from self._queue()
        yield from self._tallies()

    def _store(self) -> Iterable[Metric]:
        svc = self.svc
        deployments = GaugeMetricFamily(
            PREFIX + "deployments", "Deployments by status (not deleted)", labels=["status"]
        )
        for status, n in census.deployments_by_status(svc).items():
            deployments.add_metric([status], n)
        failed = GaugeMetricFamily(
            PREFIX + "failed_deployments",
            "Failed deployments not yet deleted, by step and code",
            labels=["step", "code"],
        )
        for (step, code), n in sorted(census.failures_by_step_and_code(svc).items()):
            failed.add_metric([step, code], n)
        deliveries = GaugeMetricFamily(PREFIX + "webhook_deliveries", "Webhook deliveries by result", labels=["result"])
        for result, n in census.deliveries_by_status(svc).items():
            deliveries.add_metric([result], n)
        return [deployments, failed, deliveries]

    def _queue(self) -> Iterable[Metric]:
        stats = getattr(self.svc.queue, "stats", None)  # the local queue; Cloud Tasks' depth is in Cloud Monitoring
        if stats is None:
            return []
        counts: dict[str, int] = stats()
        depth = GaugeMetricFamily(PREFIX + "queue_depth", "Tasks waiting or running in the local queue")
        depth.add_metric([], counts["pending"] + counts["leased"])
        tasks = GaugeMetricFamily(PREFIX + "queue_tasks", "Local queue tasks by state", labels=["state"])
        for state in ("pending", "leased", "done", "dead"):
            tasks.add_metric([state], counts.get(state, 0))
        retried = GaugeMetricFamily(PREFIX + "queue_retried_tasks", "Local queue tasks delivered more than once")
        retried.add_metric([], counts["retried"])
        return [depth, tasks, retried]

    def _tallies(self) -> Iterable[Metric]:
        found = tally.counters()
        for name, (text, labels) in COUNTERS.items():
            family = CounterMetricFamily(PREFIX + name, text, labels=list(labels))
            for key, value in sorted(found.get(name, {}).items()):
                family.add_metric([dict(key).get(label, "") for label in labels], value)
            yield family
        timed = tally.timings()
        for name, (text, labels) in TIMINGS.items():
            histogram = HistogramMetricFamily(PREFIX + name, text, labels=list(labels))
            for key, timing in sorted(timed.get(name, {}).items()):
                cumulative, buckets = 0, []
                for bound, n in zip(tally.BUCKETS, timing.counts, strict=True):
                    cumulative += n
                    buckets.append((str(bound), float(cumulative)))
                buckets.append(("+Inf", float(timing.total)))
                histogram.add_metric([dict(key).get(label, "") for label in labels], buckets, timing.sum)
            yield histogram


def metrics(call: Call) -> Response:
    """The router has checked the admin token (auth "metrics"), unless METRICS_PUBLIC."""
    svc = call.svc
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(svc))
    return Response(generate_latest(registry), status=200, headers={"Content-Type": CONTENT_TYPE_LATEST})
