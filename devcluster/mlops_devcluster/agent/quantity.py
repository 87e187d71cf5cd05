"""Kubernetes resource quantities (``500m``, ``2Gi``, ``1e3``) as exact numbers (pure)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Final

_SUFFIXES: Final[dict[str, Decimal]] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_PATTERN: Final = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(text: str | int | float) -> Decimal:
    """``"500m"`` → ``Decimal("0.5")``; a clear ValueError for anything else."""
    match = _PATTERN.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"invalid resource quantity {text!r} (expected e.g. 500m, 2, 1Gi, 1e3)")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise ValueError(f"invalid resource quantity {text!r}") from None
    return number * _SUFFIXES[match.group(2)]


def divide_ceil(value: str, divisor: str | None) -> str:
    """A resourceFieldRef value: ``value / divisor`` rounded up, as the kubelet reports it."""
    result = parse_quantity(value) / parse_quantity(divisor or "1")
    return str(math.ceil(result))
