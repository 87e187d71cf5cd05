"""The comparison of two versions as terminal tables."""

from __future__ import annotations

from mlops_operator.commands.output import number, table
from mlops_operator.operations.compare import Comparison, compare_versions

__all__ = ["Comparison", "compare_versions", "render_comparison"]


def render_comparison(comparison: Comparison) -> str:
    left, right = comparison.left, comparison.right
    parts = []
    if comparison.metrics:
        rows = []
        for row in comparison.metrics:
            delta = row.delta
            shown = "-" if delta is None else ("+" if delta >= 0 else "") + number(delta)
            rows.append([row.name, number(row.left), number(row.right), shown])
        parts.append(table(["metric", left, right, "delta"], rows))
    else:
        parts.append("no metrics recorded")
    if comparison.changed:
        parts.append(
            table(
                ["hyperparameter", left, right],
                [[r.name, r.left or "-", r.right or "-"] for r in comparison.changed],
            )
        )
    parts.append(f"{comparison.unchanged} hyperparameter(s) identical")
    return "\n\n".join(parts)
