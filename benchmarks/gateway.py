"""The serving gateway's latency against a bare FastAPI app around the same artefact.

    .venv/bin/python benchmarks/gateway.py [--requests 2000] [--concurrency 2]

Seeds the demo into a temporary directory (35 days, 200 rows a day: the models are the same
as in the full demo, only the logs are smaller), then serves ``credit_approval`` twice, one
server after the other, each in its own process on 127.0.0.1:

* **gateway**: ``govflow serve --models credit_approval``: input checks, routing, kill-switch
  checks, output safeguards, the last-known-good cache, prediction logs and counters.
* **peer**: this script with ``--peer``: FastAPI + uvicorn whose only work is
  ``predict_proba`` of the same joblib artefact on the request's rows.

Both answer ``POST /v1/models/credit_approval/predict`` with the same body, and both run
``predict_proba`` on one OpenMP thread (the gateway limits each call, the peer its process),
so the comparison is of everything around the model call. The load comes from a second
process, ``tests.support.traffic``: single-instance requests of demo applicants at a fixed
concurrency; a warm-up run is discarded. Printed per side: p50/p95/p99/max latency in ms,
the server's CPU time per request (``/proc/<pid>/stat``, which a busy machine does not
inflate the way it inflates latency) and its peak memory (``VmHWM``); then the gateway/peer
ratios. The issue's target is a gateway p95 under 500 ms (seed API target), aiming under
20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The gateway is started with the system tests' helper, which lives in tests/support/.
sys.path.insert(0, str(REPO))

from tests.support.airflow_stack import free_port  # noqa: E402
from tests.support.serving import running_gateway, stop_process_group  # noqa: E402

MODEL = "credit_approval"
READY_TIMEOUT_S = 60.0


def peer_main(artefact: Path, port: int) -> None:
    """The peer server: nothing but ``predict_proba`` behind FastAPI."""
    import joblib
    import pandas as pd
    import uvicorn
    from fastapi import FastAPI
    from threadpoolctl import threadpool_limits

    from govflow.demo.applicants import FEATURE_COLUMNS

    model = joblib.load(artefact)
    # After the load: scikit-learn's OpenMP runtime is only there once the model is unpickled.
    threadpool_limits(limits=1)
    columns = list(FEATURE_COLUMNS)
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/models/{model_id}/predict")
    async def predict(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        frame = pd.DataFrame([instance["features"] for instance in body["instances"]])[columns]
        scores = model.predict_proba(frame)[:, 1]
        return {"predictions": [{"score": float(score)} for score in scores]}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def _load(url: str, requests: int, concurrency: int, seed: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.traffic",
            *("--url", url, "--model", MODEL, "--requests", str(requests)),
            *("--seconds", "600", "--batch", "1", "--concurrency", str(concurrency)),
            *("--seed", str(seed), "--customers", "1000"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(done.stdout)


def _measure(url: str, pid: int, arguments: argparse.Namespace) -> dict[str, Any]:
    """The load's summary, with the server's CPU milliseconds per request and peak memory."""
    _load(url, arguments.warmup, arguments.concurrency, seed=1)
    cpu_before = _cpu_seconds(pid)
    run = _load(url, arguments.requests, arguments.concurrency, seed=2)
    run["server_cpu_ms_per_request"] = (_cpu_seconds(pid) - cpu_before) * 1000 / run["requests"]
    run["server_peak_mib"] = _peak_memory_mib(pid)
    return run


def _wait_for_peer(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the peer exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the peer did not become ready")


def _row(side: str, run: dict[str, Any]) -> str:
    latency = run["latency_ms"]
    return (
        f"{side:<8} {run['requests']:>8} {latency['p50']:>8.2f} {latency['p95']:>8.2f} "
        f"{latency['p99']:>8.2f} {latency['max']:>8.2f} {run['server_cpu_ms_per_request']:>8.2f} "
        f"{run['server_peak_mib']:>10.1f}"
    )


def main(arguments: argparse.Namespace) -> None:
    from govflow import settings
    from govflow.config import load_config
    from govflow.demo.seeding import seed_demo

    with tempfile.TemporaryDirectory(prefix="govflow-gateway-bench-") as directory:
        data_dir = Path(directory)
        url = f"sqlite:///{data_dir / 'govflow.db'}"
        started = time.perf_counter()
        seed_demo(
            data_dir, load_config(settings.config_dir()), days=35, rows_per_day=200, db_url=url
        )
        print(f"demo seeded in {time.perf_counter() - started:.1f} s (not timed below)")
        env = {**os.environ, "GOVFLOW_DATA_DIR": str(data_dir), "GOVFLOW_DB_URL": url}

        with running_gateway(env, models=[MODEL]) as gateway:
            ours = _measure(gateway.base_url, gateway.pid, arguments)

        port = free_port()
        peer = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--peer",
                str(data_dir / "models" / MODEL / "1.0.0" / "model.pkl"),
                "--port",
                str(port),
            ],
            start_new_session=True,
        )
        try:
            _wait_for_peer(f"http://127.0.0.1:{port}", peer)
            theirs = _measure(f"http://127.0.0.1:{port}", peer.pid, arguments)
        finally:
            stop_process_group(peer)

    print(
        f"\n{arguments.requests} single-instance requests, concurrency {arguments.concurrency}, "
        f"after {arguments.warmup} warm-up requests"
    )
    print(f"gateway answers: {ours['served_by']}, HTTP {ours['http_status']}")
    print(
        f"{'side':<8} {'requests':>8} {'p50_ms':>8} {'p95_ms':>8} {'p99_ms':>8} {'max_ms':>8} "
        f"{'cpu_ms':>8} {'VmHWM_MiB':>10}"
    )
    print(_row("gateway", ours))
    print(_row("peer", theirs))
    ratios = {q: ours["latency_ms"][q] / theirs["latency_ms"][q] for q in ("p50", "p95", "p99")}
    print(
        "gateway/peer latency: "
        + " ".join(f"{q} {ratio:.2f}x" for q, ratio in ratios.items())
        + ", server CPU per request "
        + f"{ours['server_cpu_ms_per_request'] / theirs['server_cpu_ms_per_request']:.2f}x"
        + f"; gateway p95 {ours['latency_ms']['p95']:.2f} ms (target < 500, aim < 20)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--peer", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    parsed = _parser().parse_args()
    if parsed.peer is not None:
        peer_main(parsed.peer, parsed.port)
    else:
        main(parsed)
