"""Traffic for a running serving gateway, from its own process:

    python -m tests.support.traffic --url http://127.0.0.1:8780 --model credit_approval \
        --seconds 20 --batch 4 --population fairness_drift --internal-share 0.1

Draws a pool of demo applicants (``--customers`` of them, each with a fixed entity id, so
customers come back and keep their routed version), then ``--concurrency`` threads post
batches of ``--batch`` instances for ``--seconds`` (or until ``--requests`` requests, or until
SIGTERM, which ends the run early with its summary). A request goes to the internal audience
with probability ``--internal-share``. Prints one JSON summary: requests, HTTP statuses,
answers by served_by, version, route and by the value of ``--segment-field``, and request
latency (p50/p95/p99/max in ms).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from tests.support.serving import applicant_instances

REQUEST_TIMEOUT_S = 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="The gateway's base URL.")
    parser.add_argument("--model", required=True, help="Model id to predict with.")
    parser.add_argument("--seconds", type=float, default=10.0, help="How long to send.")
    parser.add_argument("--requests", type=int, default=None, help="Stop after this many.")
    parser.add_argument("--batch", type=int, default=1, help="Instances per request.")
    parser.add_argument("--concurrency", type=int, default=2, help="Requests in flight.")
    parser.add_argument(
        "--population", choices=("stable", "fairness_drift", "data_drift"), default="stable"
    )
    parser.add_argument("--internal-share", type=float, default=0.0)
    parser.add_argument("--segment-field", default="customer_segment")
    parser.add_argument("--customers", type=int, default=5000, help="Distinct entity ids.")
    parser.add_argument("--consumer", default=None, help="context.consumer of every request.")
    parser.add_argument("--seed", type=int, default=11)
    return parser


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


class _Tally:
    def __init__(self, segment_field: str) -> None:
        self.segment_field = segment_field
        self.lock = threading.Lock()
        self.latencies_ms: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.served_by: Counter[str] = Counter()
        self.versions: Counter[str] = Counter()
        self.routes: Counter[str] = Counter()
        self.by_segment: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.transport_errors = 0
        self.instances = 0

    def add(
        self, status: int | None, elapsed_ms: float, sent: list[dict[str, Any]], body: Any
    ) -> None:
        with self.lock:
            self.latencies_ms.append(elapsed_ms)
            if status is None:
                self.transport_errors += 1
                return
            self.statuses[str(status)] += 1
            self.instances += len(sent)
            if not isinstance(body, dict) or "predictions" not in body:
                return
            for instance, answer in zip(sent, body["predictions"], strict=True):
                served_by = answer.get("served_by") or "rejected"
                self.served_by[served_by] += 1
                self.versions[str(answer.get("model_version"))] += 1
                self.routes[str(answer.get("route"))] += 1
                segment = str(instance["features"].get(self.segment_field))
                self.by_segment[segment][served_by] += 1

    def summary(self, arguments: argparse.Namespace, seconds: float) -> dict[str, Any]:
        latencies = self.latencies_ms
        return {
            "url": arguments.url,
            "model": arguments.model,
            "population": arguments.population,
            "batch": arguments.batch,
            "concurrency": arguments.concurrency,
            "seconds": round(seconds, 3),
            "requests": len(latencies),
            "instances": self.instances,
            "http_status": dict(self.statuses),
            "transport_errors": self.transport_errors,
            "served_by": dict(self.served_by),
            "by_version": dict(self.versions),
            "by_route": dict(self.routes),
            "by_segment": {key: dict(value) for key, value in sorted(self.by_segment.items())},
            "latency_ms": {
                "p50": _percentile(latencies, 50),
                "p95": _percentile(latencies, 95),
                "p99": _percentile(latencies, 99),
                "max": round(max(latencies), 3) if latencies else None,
            },
        }


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(arguments.seed)
    pool = applicant_instances(rng, arguments.customers, population=arguments.population)
    tally = _Tally(arguments.segment_field)
    url = f"{arguments.url.rstrip('/')}/v1/models/{arguments.model}/predict"
    started = time.monotonic()
    deadline = started + arguments.seconds
    budget = threading.Semaphore(arguments.requests) if arguments.requests else None
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopped.set())

    def send(worker: int) -> None:
        local = np.random.default_rng([arguments.seed, worker])
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
            while time.monotonic() < deadline and not stopped.is_set():
                if budget is not None and not budget.acquire(blocking=False):
                    return
                picked = local.integers(0, len(pool), arguments.batch)
                sent = [pool[index] for index in picked]
                context: dict[str, Any] = {
                    "audience": "internal"
                    if local.random() < arguments.internal_share
                    else "external"
                }
                if arguments.consumer:
                    context["consumer"] = arguments.consumer
                began = time.perf_counter()
                try:
                    answer = client.post(url, json={"instances": sent, "context": context})
                except httpx.TransportError:
                    tally.add(None, (time.perf_counter() - began) * 1000, sent, None)
                    continue
                elapsed_ms = (time.perf_counter() - began) * 1000
                try:
                    body = answer.json()
                except ValueError:
                    body = None
                tally.add(answer.status_code, elapsed_ms, sent, body)

    workers = [
        threading.Thread(target=send, args=(index,), daemon=True)
        for index in range(arguments.concurrency)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(arguments.seconds + 2 * REQUEST_TIMEOUT_S)
    return tally.summary(arguments, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> None:
    print(json.dumps(run(_parser().parse_args(argv)), sort_keys=True))


if __name__ == "__main__":
    main()
