"""Many models on a few servers: this project's pool against Ray Serve and MLServer, side by side.

MODELS distinct model versions (the 32 -> 128 -> 128 -> 4 MLP, each trained briefly from its own
seed with the shared core library and published with its ``model.onnx``) whose sizes, as a pool
server's budget counts them (the artifact's files plus ``MODEL_OVERHEAD_BYTES``), add up to 3x
one server's memory budget. REPLICAS servers (2) hold them, so each can keep K = budget / size
versions in memory. Three systems serve the same versions with the same K per replica:

- **pool**: this project's model servers (``MODEL_MEMORY_BUDGET_BYTES``, LRU within it) following
  a placement with one copy per version, and a pool router in front, as processes on loopback;
- **ray**: Ray Serve, one deployment of REPLICAS replicas whose ``serve.multiplexed`` loader keeps
  ``max_num_models_per_replica=K`` (Ray's own LRU; its proxy prefers a replica holding the model);
- **mlserver**: REPLICAS MLServer processes with the model repository API. MLServer has no memory
  bound nor LRU of its own (it loads what it is told until the process runs out of memory), so
  the benchmark's client gives it one: each model goes to the replica its name hashes to, which
  keeps at most K models, unloading the least recently used before loading another.

The anchors run each version's ``model.onnx`` (the network the pool server runs, by ONNX Runtime
with one thread) from environments of their own under ``~/.cache/mlops-bench-anchors``, so their
pins never touch the project's lock; an anchor that cannot be installed or started is reported
unavailable with the reason. The pool server also reads and checks every file of the artifact,
parses its config, preprocessing and calibration, and warms each version up (its reference
statistics wait for a drift report): its loads are the costlier ones.

Each system runs alone (started, measured over every repeat, stopped before the next starts: an
idle system's processes, Ray's above all, would take CPU from the one measured). Each repeat: a
**warm** phase (requests over K/2 models already loaded: the
all-warm latency) and a **Zipf(1.1)** phase (REQUESTS requests drawn i.i.d. from a Zipf(1.1)
popularity over every model, so models interleave; each repeat ranks the models in a new random
order, so the hot set of one repeat is cold in the next). Requests are Open Inference Protocol v2
``infer`` bodies with one row, sent by CONCURRENCY keep-alive connections. Figures per system:
loads per 1,000 requests, p50/p99 against the warm p99, throughput, peak RSS of a replica beside
its idle RSS, failed requests; for the pool also the RSS one loaded version costs, beside its files
and its weights (``model.onnx``): the per-model overhead is that RSS less the weights.
Medians of the repeats with their spread; ``met`` judges the pool's medians. Targets: loads per
1,000 <= 0.5x the best available anchor's; p99 <= 1.5x the warm p99; no failed request; a
server's peak RSS <= its idle RSS + the budget.
Run: ``.venv/bin/python benchmarks/multi_model.py --models 200 --requests 4000 --repeats 2`` (about
5 minutes on 2 cores); the default size takes hours, most of it MLServer's loads (each reads the
repository's every ``model-settings.json``); ``--systems pool,ray`` leaves it out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serving_throughput import CLASSES, N_FEATURES, synthetic_task

HIDDEN = [128, 128]
VERSION = "1.0.0"
ZIPF_S = 1.1
OVERSUBSCRIPTION = 3  # the versions' sizes add up to 3x one server's budget
OVERHEAD_BYTES = 256 * 1024  # a pool's default modelOverhead
CONCURRENCY = 8
MAX_MODELS_IN_MEMORY = 256  # the model server's ceiling on MAX_MODELS_IN_MEMORY
SYSTEMS = ("pool", "ray", "mlserver")
LOADAVG = Path("/proc/loadavg")


def model_names(count: int) -> list[str]:
    return [f"m{i:04d}" for i in range(count)]


# ---- the versions -------------------------------------------------------------------------


def publish_versions(root: Path, names: list[str]) -> None:
    """Publish one version of each model: the same data, each network from its own seed and
    trained for a few steps (distinct weights, the same size)."""
    import torch

    from mlops_core.artifact_io import ArtifactMetrics, publish_artifact
    from mlops_core.models import build_model
    from mlops_core.onnx_export import export_onnx
    from mlops_core.reference_stats import compute_reference_stats
    from mlops_core.storage import join_uri, open_store

    torch.set_num_threads(1)
    _, data, pre, config = synthetic_task(np.random.default_rng(0), rows=500, hidden=HIDDEN)
    reference = compute_reference_stats(pre, data)
    inputs = torch.from_numpy(pre.transform_columns(data))
    target = torch.tensor([CLASSES.index(str(v)) for v in data["label"]])
    for seed, name in enumerate(names):
        torch.manual_seed(seed)
        module = build_model(config)
        optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
        for _ in range(3):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(module(inputs), target).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        module.eval()
        publish_artifact(
            open_store(join_uri(str(root), name, VERSION)),
            model=name,
            version=VERSION,
            module=module,
            config=config,
            preprocessor=pre,
            reference=reference,
            metrics=ArtifactMetrics(epochs_run=3),
            onnx=export_onnx(module, config, inputs.numpy()[:64]),
        )


def files_bytes(root: Path, name: str) -> int:
    """The bytes of a version's files, as its manifest lists them."""
    return sum(_manifest(root, name).values())


def weights_bytes(root: Path, name: str) -> int:
    """The bytes of a version's network (its ``model.onnx``)."""
    from mlops_core.artifact import ONNX_FILE

    return _manifest(root, name)[ONNX_FILE]


def _manifest(root: Path, name: str) -> dict[str, int]:
    from mlops_core.artifact import MANIFEST_FILE, parse_manifest

    manifest = parse_manifest((root / name / VERSION / MANIFEST_FILE).read_bytes())
    return {entry.path: entry.size for entry in manifest.files}


# ---- the trace and the requests -------------------------------------------------------------


def zipf_trace(count: int, requests: int, seed: int) -> list[int]:
    """Model indices of ``requests`` requests: Zipf(ZIPF_S) popularity over ``count`` models
    ranked in a random order of this seed, drawn i.i.d. (so models interleave)."""
    rng, ranked, chance = _zipf_ranking(count, seed)
    draws = rng.choice(count, size=requests, p=chance)
    return [int(ranked[d]) for d in draws]


def zipf_popularity(count: int, seed: int) -> list[float]:
    """Each model index's probability of being requested in :func:`zipf_trace`'s trace of this
    seed."""
    _, ranked, chance = _zipf_ranking(count, seed)
    popularity = [0.0] * count
    for rank, index in enumerate(ranked):
        popularity[int(index)] = float(chance[rank])
    return popularity


def _zipf_ranking(count: int, seed: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """The seed's generator after ranking, the model index at each rank, each rank's chance."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, count + 1) ** ZIPF_S
    ranked = rng.permutation(count)
    return rng, ranked, weights / weights.sum()


def infer_body(seed: int) -> bytes:
    row = [float(v) for v in np.random.default_rng(seed).normal(size=N_FEATURES)]
    tensor = {"name": "x", "shape": [1, N_FEATURES], "datatype": "FP32", "data": row}
    return json.dumps({"inputs": [tensor]}).encode()


@dataclass
class Phase:
    """One phase of one system: latencies of every request, failures, wall time, loads."""

    latencies_ms: list[float]
    failed: int
    seconds: float
    loads: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies_ms)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass
class Repeat:
    """The figures of one system in one repeat."""

    loads_per_1000: float
    p50_ms: float
    p99_ms: float
    warm_p99_ms: float
    rps: float
    failed: int
    peak_rss_mib: float


def repeat_figures(warm: Phase, zipf: Phase, peak_rss_bytes: int) -> Repeat:
    return Repeat(
        loads_per_1000=1000 * zipf.loads / max(zipf.count, 1),
        p50_ms=percentile(zipf.latencies_ms, 0.50),
        p99_ms=percentile(zipf.latencies_ms, 0.99),
        warm_p99_ms=percentile(warm.latencies_ms, 0.99),
        rps=zipf.count / zipf.seconds,
        failed=warm.failed + zipf.failed,
        peak_rss_mib=peak_rss_bytes / 2**20,
    )


# ---- the summary ----------------------------------------------------------------------------


def _median_spread(values: list[float], digits: int) -> tuple[float, float, float]:
    return (
        round(statistics.median(values), digits),
        round(min(values), digits),
        round(max(values), digits),
    )


def summary(
    repeats: dict[str, list[Repeat]],
    unavailable: dict[str, str],
    *,
    budget_mib: float,
    idle_rss_mib: dict[str, float],
    memory_kib: dict[str, float],
    models: int,
    requests: int,
    replayed: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The JSON summary: per system the medians of its repeats with their spread; ``met``
    judges the pool's medians against the targets (loads against the best available anchor's;
    with no anchor available that target is not met)."""
    numbers: dict[str, Any] = {
        "models": models,
        "requests": requests,
        "repeats": len(repeats.get("pool", [])),
        "budget_mib": round(budget_mib, 1),
        **{f"pool_{name}_kib_per_model": round(kib, 1) for name, kib in memory_kib.items()},
        **(replayed or {}),
    }
    for system in SYSTEMS:
        if system in unavailable or not repeats.get(system):
            numbers[f"{system}_unavailable"] = unavailable.get(system, "not run")
            continue
        runs = repeats[system]
        for name, digits in (
            ("loads_per_1000", 1),
            ("p50_ms", 2),
            ("p99_ms", 2),
            ("warm_p99_ms", 2),
            ("rps", 0),
            ("peak_rss_mib", 1),
        ):
            mid, low, high = _median_spread([float(getattr(r, name)) for r in runs], digits)
            numbers[f"{system}_{name}"] = mid
            numbers[f"{system}_{name}_min"] = low
            numbers[f"{system}_{name}_max"] = high
        ratios = [r.p99_ms / r.warm_p99_ms for r in runs]
        numbers[f"{system}_p99_of_warm"] = round(statistics.median(ratios), 2)
        numbers[f"{system}_failed"] = sum(r.failed for r in runs)
        numbers[f"{system}_idle_rss_mib"] = round(idle_rss_mib.get(system, 0.0), 1)
    anchors = [numbers[f"{a}_loads_per_1000"] for a in ("ray", "mlserver") if f"{a}_rps" in numbers]
    met = "pool_rps" in numbers
    if met:
        best = min(anchors) if anchors else None
        numbers["pool_loads_of_best_anchor"] = (
            round(numbers["pool_loads_per_1000"] / best, 2) if best else None
        )
        numbers["pool_rss_within_budget"] = (
            numbers["pool_peak_rss_mib"] <= numbers["pool_idle_rss_mib"] + budget_mib
        )
        loads_ok = best is not None and numbers["pool_loads_per_1000"] <= 0.5 * best
        met = (
            loads_ok
            and numbers["pool_p99_of_warm"] <= 1.5
            and numbers["pool_failed"] == 0
            and numbers["pool_rss_within_budget"]
        )
    targets = {
        "pool_loads_of_best_anchor": "<= 0.5",
        "pool_p99_of_warm": "<= 1.5",
        "pool_failed": "0",
        "pool_rss_within_budget": "peak RSS <= idle RSS + budget",
    }
    return {"benchmark": "multi_model", "figures": numbers, "targets": targets, "met": bool(met)}


# ---- the trace replayed ----------------------------------------------------------------------


def replayed_loads(
    traces: list[tuple[list[str], dict[str, float]]],
    server_of: dict[str, str],
    per_replica: int,
    seed: int = 0,
) -> dict[str, float]:
    """Loads per 1,000 requests of the pool's Zipf traces (each with the popularity it was drawn
    from) replayed offline, per server (the versions placed there, ``per_replica`` held): LRU,
    LFU, the rule that knows each version's popularity, and Belady's rule, which knows the
    future, each from a start of ``per_replica`` of the server's versions drawn at random (each
    repeat ranks the models anew, so what a server holds is unrelated to the new ranking);
    Belady's rule from its best start, which no rule can beat; and the long-run loads of the best
    rule that does not know the trace (``stationary``). Medians over the traces."""
    from harness.eviction import (
        belady_loads,
        best_start,
        lfu_loads,
        lru_loads,
        popularity_loads,
        stationary_loads,
    )

    rng = np.random.default_rng(seed)
    placed: dict[str, list[str]] = {}
    for version, server in server_of.items():
        placed.setdefault(server, []).append(version)
    found: dict[str, list[float]] = {}
    bounds: list[float] = []
    for trace, popularity in traces:
        counts = dict.fromkeys(("lru", "lfu", "known_popularity", "belady", "belady_best_start"), 0)
        stationary = 0.0
        for server, versions in sorted(placed.items()):
            mine = [v for v in trace if server_of[v] == server]
            start = [str(v) for v in rng.permutation(versions)[:per_replica]]
            counts["lru"] += lru_loads(mine, per_replica, start)
            counts["lfu"] += lfu_loads(mine, per_replica, start)
            counts["known_popularity"] += popularity_loads(mine, per_replica, start, popularity)
            counts["belady"] += belady_loads(mine, per_replica, start)
            best = best_start(mine, per_replica)
            counts["belady_best_start"] += belady_loads(mine, per_replica, best)
            share = {v: popularity.get(v, 0.0) for v in versions}
            stationary += sum(share.values()) * stationary_loads(share, per_replica)
        for rule, count in counts.items():
            found.setdefault(rule, []).append(1000 * count / max(len(trace), 1))
        bounds.append(1000 * stationary / sum(popularity.values()))
    figures = {
        f"replayed_{rule}_loads_per_1000": round(statistics.median(values), 1)
        for rule, values in found.items()
    }
    figures["stationary_bound_loads_per_1000"] = round(statistics.median(bounds), 1)
    return figures


# ---- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20000, help="per repeat and system")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    args = parser.parse_args()
    from anchors.multi_model_systems import pool_placement, pool_servers, run_systems

    started = time.monotonic()
    print(f"load average before: {LOADAVG.read_text().strip()}", flush=True)
    names = model_names(args.models)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "models"
        publish_versions(root, names)
        sizes = [files_bytes(root, n) + OVERHEAD_BYTES for n in names]
        budget = sum(sizes) // OVERSUBSCRIPTION
        per_replica = min(budget // max(sizes), MAX_MODELS_IN_MEMORY)
        print(
            f"{len(names)} versions published in {time.monotonic() - started:.0f}s: "
            f"{statistics.mean(sizes) / 1024:.0f} KiB each with the overhead, budget "
            f"{budget / 2**20:.1f} MiB per server = {per_replica} versions",
            flush=True,
        )
        outcome = run_systems(
            root,
            names,
            systems=[s for s in args.systems.split(",") if s],
            budget=budget,
            overhead=OVERHEAD_BYTES,
            per_replica=per_replica,
            replicas=args.replicas,
            requests=args.requests,
            repeats=args.repeats,
            workdir=Path(tmp),
        )
        placement = pool_placement(
            root, names, list(pool_servers(args.replicas)), budget, OVERHEAD_BYTES
        )
        server_of = {n: min(placement.servers_of[(n, VERSION)]) for n in names}
        weights = statistics.mean(weights_bytes(root, n) for n in names)
        memory_kib = {  # what one loaded version holds, beside what the budget counts of it
            "rss": outcome.rss_bytes_per_model / 1024,
            "files": statistics.mean(sizes) / 1024 - OVERHEAD_BYTES / 1024,
            "weights": weights / 1024,
            "overhead": (outcome.rss_bytes_per_model - weights) / 1024,
        }
    traces = [
        (
            [names[i] for i in zipf_trace(len(names), args.requests, s)],
            dict(zip(names, zipf_popularity(len(names), s), strict=True)),
        )
        for s in range(args.repeats)
    ]
    replayed = replayed_loads(traces, server_of, per_replica)
    print(f"the pool's traces replayed offline: {json.dumps(replayed)}", flush=True)
    result = summary(
        outcome.repeats,
        outcome.unavailable,
        budget_mib=budget / 2**20,
        idle_rss_mib=outcome.idle_rss_mib,
        memory_kib=memory_kib,
        models=len(names),
        requests=args.requests,
        replayed=replayed,
    )
    for system, runs in outcome.repeats.items():
        for index, run in enumerate(runs):
            print(f"{system} repeat {index}: {json.dumps(asdict(run))}")
    for system, reason in outcome.unavailable.items():
        print(f"{system}: unavailable: {reason}")
    print(f"load average after: {LOADAVG.read_text().strip()}")
    print(f"run time: {time.monotonic() - started:.0f}s, {os.cpu_count()} CPUs")
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
