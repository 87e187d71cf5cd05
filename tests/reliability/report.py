"""Render the reliability suite's figures (JSON from a run) as docs/reliability.md.

    python tests/reliability/report.py build/reliability.json [more.json …] docs/reliability.md

``make reliability`` runs the full counts and then this. Several figure files (parts of the
suite run in separate sessions) are rendered as one page.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HEADER = """# Reliability

What the system does under faults, bad input, long load and a security review: the figures of
the reliability suite (`tests/reliability/`), measured against the real components — the
operator as its own ServiceAccount, the local control plane (etcd, API server, controllers),
MinIO, the node agent running trainer pods, model servers and the router on loopback.

- **Controller faults**: the operator SIGKILLed at random points (while it picks versions,
  creates Jobs, waits on trainers, registers versions; sometimes left down while events pile
  up) across train → register flows; the API server and etcd stopped and started mid-flow. A
  flow is lost when it never succeeds or registers no version; a child is duplicated when a
  run has two Jobs or two ModelVersions, or a version number is registered twice.
- **Storage faults**: MinIO stopped as soon as a trainer's first artifact file appears, and
  while a model server loads a version.
- **Serving faults**: one of two model servers behind the router SIGKILLed under load.
- **Bad input, generated**: schemathesis from the server's OpenAPI document (valid and
  invalid requests) plus hand-made cases it cannot describe (non-finite numbers, bodies over
  the limit with and without Content-Length, wrong and missing content types, truncated
  JSON), against the model server and the router; coverage-guided fuzzing (atheris) of the
  request parsers down to the model input, the router config and the manifest reader.
- **Soak**: one model server serving more versions than `MAX_MODELS_IN_MEMORY`, so the load
  keeps evicting and reloading them.
- **Security**: pod templates of every workload dry-run created in a namespace enforcing the
  `restricted` Pod Security profile (and the fault tests' trainer pods run in such
  namespaces); an RBAC matrix of each ServiceAccount by SubjectAccessReview; the S3 secret
  key and an alert credential searched for in every log, status and Event of the run.

`make test` runs a bounded form (a few faults of each kind); `make reliability` runs the full
counts and rewrites this page.
"""


def render(data: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(data["finished"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    minutes = (data["finished"] - data["started"]) / 60  # wall time, sessions may overlap
    lines = [
        HEADER,
        f"## Figures ({data['scale']} run, {when}, {minutes:.0f} minutes, {data['machine']})",
        "",
    ]
    sections: dict[str, list[dict[str, Any]]] = {}
    for figure in data["figures"]:
        sections.setdefault(figure["section"], []).append(figure)
    failed = [f for f in data["figures"] if f["met"] is False]
    lines.append(
        "Every target met." if not failed else f"**{len(failed)} target(s) not met** (marked ✗)."
    )
    for section, figures in sections.items():
        lines += ["", f"### {section}", "", "| figure | value | target | |", "|---|---:|---|---|"]
        for f in figures:
            mark = {True: "✓", False: "✗", None: ""}[f["met"]]
            lines.append(f"| {f['name']} | {f['value']} | {f['target']} | {mark} |")
    return "\n".join(lines) + "\n"


def combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Figure files of separate sessions as one; the same figure measured twice keeps the last."""
    merged = dict(parts[0])
    merged["started"] = min(p["started"] for p in parts)
    merged["finished"] = max(p["finished"] for p in parts)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for part in parts:
        for figure in part["figures"]:
            seen[(figure["section"], figure["name"])] = figure
    merged["figures"] = list(seen.values())
    return merged


def main() -> None:
    *sources, target = (Path(arg) for arg in sys.argv[1:])
    parts = [json.loads(source.read_text()) for source in sources]
    Path(target).write_text(render(combine(parts)))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
