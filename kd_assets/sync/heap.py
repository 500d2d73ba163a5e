"""Keep the clean step's freed buffers from pinning resident memory (glibc's malloc).

glibc serves a block of at least its mmap threshold (128 KiB at start) with its own ``mmap`` and
unmaps it when freed. But each time such a block is freed it raises the threshold to that
block's size (up to 32 MiB), so from then on a chunk's arrays, a page's text and its encoded
bytes come from the heap; there a small object allocated after them (a row's value, a log
record) keeps their freed space from ever going back to the system. Measured on a 1M-customer
initial load: the run process crept from 254 to 285 MiB over the clean step while Python's own
heap stayed flat (tracemalloc: 20-30 MiB throughout).

The clean step calls :func:`bound_heap` as it starts (in the run's process and in each clean
worker): a fixed threshold (glibc's starting 128 KiB) also turns the dynamic one off, so large
blocks stay mmapped and are unmapped when freed. It is process-wide and stays for the steps
after. The price is page faults: at 300k customers the run's system CPU went from 1.1-1.5 s to
2.2 s (user CPU the same within noise), its peak from 281-295 to 273-280 MiB. Set from the
start of the run instead, fetch-and-land paid it too (system CPU 3.6-3.8 s) for no lower peak.
Elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # mallopt(3) parameter number in glibc's malloc.h
THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value

_bounded = False


def bound_heap(threshold: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes (once per process); whether it is set."""
    global _bounded
    if _bounded:
        return True
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: libc's, on Linux
    except (OSError, AttributeError):  # none to load, or a C library without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _bounded = mallopt(M_MMAP_THRESHOLD, threshold) == 1
    return _bounded
