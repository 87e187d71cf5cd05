"""A cap on glibc's malloc arenas for the server process.

glibc gives each thread that allocates concurrently an arena of its own, up to eight per core,
and an arena keeps its high-water mark. A server that loads and drops models on worker threads
(runtime sessions, batches, evictions) then grows its resident memory for minutes before it
levels off. Two arenas keep it flat at no measurable cost to throughput on a few cores.
``MALLOC_ARENA_MAX`` in the environment, read by glibc itself at start, wins over this cap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Mapping
from typing import Final

ARENA_MAX_ENV: Final = "MALLOC_ARENA_MAX"
DEFAULT_ARENAS: Final = 2
_M_ARENA_MAX: Final = -8  # mallopt's parameter number in glibc's malloc.h


def cap_malloc_arenas(environ: Mapping[str, str], arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap the arenas unless the environment sets them; False where the C library is not glibc."""
    if ARENA_MAX_ENV in environ:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # musl, macOS: no mallopt, nothing to cap
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
