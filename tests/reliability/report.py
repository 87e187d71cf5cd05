"""Render the figures of one ``make reliability`` run as docs/reliability.md.

    python tests/reliability/report.py build/reliability.json docs/reliability.json \
        docs/reliability.md [--any-scale]

The figures file is the one pytest session wrote (``MLOPS_RELIABILITY_FIGURES``): one run, at
one commit. It is copied beside the page and the page rendered from it only when the run holds
nothing to hide: every test passed (none failed or skipped), no figure missed its target, and
the run was at full scale (``--any-scale`` renders a bounded run, to check the page). Otherwise
both files stay as they were, the problems are printed and the exit status is 1.
"""

from __future__ import annotations

import json
import re
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
  key and the signing key of an alert webhook that the operator used in the same run searched
  for in every log, status and Event.

`make test` runs a bounded form (a few faults of each kind); `make reliability` runs the full
counts in one pytest session at one commit, writes every figure and every test's outcome to
`docs/reliability.json` and renders this page from it. A run in which a test failed or was
skipped, or a figure missed its target, leaves both files as they were and exits non-zero.
"""


def problems(data: dict[str, Any], *, any_scale: bool = False) -> list[str]:
    """Why this run may not be the page (empty when it may)."""
    found = []
    if not any_scale and data.get("scale") != "full":
        found.append(f"a {data.get('scale')} run: the page shows the full counts")
    if not data.get("cases"):
        found.append("no test outcome recorded")
    for case in data.get("cases", []):
        if case["outcome"] != "passed":
            found.append(f"{case['test']} {case['outcome']}: {case.get('detail', '')}")
    for figure in data.get("figures", []):
        if figure["met"] is False:
            found.append(
                f"{figure['section']}: {figure['name']} = {figure['value']} "
                f"misses {figure['target']}"
            )
    return found


def readable_test_id(node_id: str) -> str:
    """A pytest node id as written: pytest escapes non-ASCII parameter ids (``\\u2192``)."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), node_id)


def render(data: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(data["finished"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    minutes = (data["finished"] - data["started"]) / 60
    commit = data.get("commit", "unknown")
    at = f"commit `{commit[:12]}`" + (" with uncommitted changes" if data.get("dirty") else "")
    lines = [
        HEADER,
        f"## Figures ({data['scale']} run at {at}, {when}, {minutes:.0f} minutes, "
        f"{data['machine']})",
        "",
        "One pytest session; its data is `docs/reliability.json`.",
        "",
    ]
    left = problems(data, any_scale=True)
    lines.append(
        "Every test passed and every target met."
        if not left
        else f"**{len(left)} problem(s)**: " + "; ".join(left)
    )
    sections: dict[str, list[dict[str, Any]]] = {}
    for figure in data["figures"]:
        sections.setdefault(figure["section"], []).append(figure)
    for section, figures in sections.items():
        lines += ["", f"### {section}", "", "| figure | value | target | |", "|---|---:|---|---|"]
        for f in figures:
            mark = {True: "✓", False: "✗", None: ""}[f["met"]]
            lines.append(f"| {f['name']} | {f['value']} | {f['target']} | {mark} |")
    lines += ["", "### Tests", "", "| test | outcome | seconds |", "|---|---|---:|"]
    for case in data.get("cases", []):
        mark = "✓" if case["outcome"] == "passed" else "✗ " + case["outcome"]
        lines.append(f"| `{readable_test_id(case['test'])}` | {mark} | {case['seconds']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    any_scale = "--any-scale" in argv
    source, data_target, page_target = (Path(a) for a in argv if a != "--any-scale")
    if not source.exists():
        print(f"{source} does not exist: the run wrote no figures", file=sys.stderr)
        return 1
    data = json.loads(source.read_text())
    found = problems(data, any_scale=any_scale)
    if found:
        print(f"{page_target} left as it was:", *found, sep="\n  ", file=sys.stderr)
        return 1
    data_target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    page_target.write_text(render(data))
    print(f"wrote {data_target} and {page_target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
