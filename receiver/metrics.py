"""GET /metrics: the receiver's own in-process metrics plus the shared counters in Redis.

Product counters (alerts, incidents, pages, probes, escalations, deadlines) are kept in
Redis by every process (``receiver.stats``), so counts made inside RQ's forked job
processes, on other hosts or before a restart are not lost, and every receiver
process of ``--processes N`` answers the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis.asyncio import Redis
from redis.exceptions import RedisError

from receiver import stats
from receiver.incidents import keys
from receiver.jobs import PROBES_QUEUE, QUEUE

REGISTRY = CollectorRegistry(auto_describe=True)

INGEST_SECONDS = Histogram(
    "triaged_ingest_duration_seconds",
    "Time to validate, classify and store one alert POST (this process).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
UNAVAILABLE = Counter(
    "triaged_store_unavailable",
    "Alert posts answered 503 because Redis was unreachable (this process).",
    ("source",),
    registry=REGISTRY,
)

SHED = Counter(
    "triaged_load_shed",
    "Alert posts answered 503 at the concurrency limit (this process).",
    ("source",),
    registry=REGISTRY,
)

RATE_LIMITED = Counter(
    "triaged_alerts_rate_limited",
    "Alert posts answered 503 over their source's rate limit (this process).",
    ("source",),
    registry=REGISTRY,
)

RULES_RELOAD_OK = Gauge(
    "triaged_rules_last_reload_successful",
    "1 when the last rules (re)load of this process succeeded; 0: it runs older rules.",
    registry=REGISTRY,
)
RULES_RELOAD_SUCCESS_TIME = Gauge(
    "triaged_rules_last_reload_success_timestamp_seconds",
    "When this process last loaded its rules successfully (Unix time).",
    registry=REGISTRY,
)
RULES_RELOADS = Counter(
    "triaged_rules_reloads",
    "Rules reloads of this process, by result (success, failure).",
    ("result",),
    registry=REGISTRY,
)
RULES_INFO = Gauge(
    "triaged_rules_info",
    "The rules version this process runs (value 1).",
    ("version",),
    registry=REGISTRY,
)


def rules_loaded(version: str, ok: bool) -> None:
    """Record a rules load: ``ok`` False keeps ``version`` (the older rules) running."""
    RULES_RELOAD_OK.set(1 if ok else 0)
    if ok:
        RULES_RELOAD_SUCCESS_TIME.set_to_current_time()
        RULES_INFO.clear()
        RULES_INFO.labels(version=version).set(1)


CONTENT_TYPE = CONTENT_TYPE_LATEST


class SnapshotCollector:
    """Exposes one read of the Redis stats hash and the queue depths."""

    def __init__(self, samples: dict[str, float], depths: dict[str, float] | None) -> None:
        self.samples = samples
        self.depths = depths

    def collect(self) -> Iterator[Metric]:
        by_name: dict[str, list[tuple[str, dict[str, str], float]]] = defaultdict(list)
        for raw, value in self.samples.items():
            name, labels = stats.parse(raw)
            by_name[name].append((name, labels, value))
        for metric in stats.METRICS.values():
            if metric.kind is stats.Kind.COUNTER:
                yield self._counter(metric, by_name[metric.name])
            else:
                yield self._histogram(metric, by_name)
        up = GaugeMetricFamily("triaged_redis_up", "1 when this scrape could read Redis.")
        up.add_metric([], 1.0 if self.depths is not None else 0.0)
        yield up
        depth = GaugeMetricFamily(
            "triaged_queue_depth",
            "Work waiting: page queue (triaged), probe queue (triaged-probes), "
            "scheduled steps, stored-not-yet-enqueued (outbox).",
            labels=["queue"],
        )
        for queue, value in sorted((self.depths or {}).items()):
            depth.add_metric([queue], value)
        yield depth

    @staticmethod
    def _counter(
        metric: stats.MetricDef, rows: list[tuple[str, dict[str, str], float]]
    ) -> CounterMetricFamily:
        family = CounterMetricFamily(metric.name, metric.help, labels=list(metric.labels))
        for _, labels, value in sorted(rows, key=lambda r: sorted(r[1].items())):
            family.add_metric([labels[k] for k in metric.labels], value)
        return family

    @staticmethod
    def _histogram(
        metric: stats.MetricDef, by_name: dict[str, list[tuple[str, dict[str, str], float]]]
    ) -> HistogramMetricFamily:
        family = HistogramMetricFamily(metric.name, metric.help, labels=list(metric.labels))
        series: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
        sums: dict[tuple[str, ...], float] = {}
        for _, labels, value in by_name[f"{metric.name}_bucket"]:
            series[tuple(labels[k] for k in metric.labels)][labels["le"]] = value
        for _, labels, value in by_name[f"{metric.name}_sum"]:
            sums[tuple(labels[k] for k in metric.labels)] = value
        for key in sorted(series):
            observed = series[key]
            buckets = [(str(float(b)), observed.get(repr(float(b)), 0.0)) for b in metric.buckets]
            # cumulative: a bucket counts every observation <= its bound
            buckets.append(("+Inf", observed.get("+Inf", 0.0)))
            family.add_metric(list(key), buckets, sums.get(key, 0.0))
        return family


async def read_snapshot(redis: Redis) -> tuple[dict[str, float], dict[str, float] | None]:
    """Read the stats hash and queue depths; empty and None when Redis is down."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.stats())
            pipe.llen(f"rq:queue:{QUEUE}")
            pipe.llen(f"rq:queue:{PROBES_QUEUE}")
            pipe.zcard(f"rq:scheduled:{QUEUE}")
            pipe.zcard(keys.outbox())
            raw, queued, probes, scheduled, outbox = await pipe.execute()
    except (RedisError, OSError, TimeoutError):
        return {}, None
    samples = {str(k): float(v) for k, v in raw.items()}
    depths = {QUEUE: queued, PROBES_QUEUE: probes, "scheduled": scheduled, "outbox": outbox}
    return samples, depths


async def render(redis: Redis) -> bytes:
    """Return the whole exposition text for one scrape."""
    samples, depths = await read_snapshot(redis)
    shared = CollectorRegistry(auto_describe=False)
    shared.register(SnapshotCollector(samples, depths))  # type: ignore[arg-type]
    return generate_latest(REGISTRY) + generate_latest(shared)
