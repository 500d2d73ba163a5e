"""bound_heap: freed large blocks go back to the system even after glibc saw a larger one freed."""

import subprocess
import sys

# In a fresh process (the test runner's heap is not ours to change): free one 8 MiB block, which
# raises glibc's mmap threshold to 8 MiB; then 64 blocks of 1 MiB, each followed by a smaller
# block that outlives it (like an arena of Python objects: too large for any free hole); free
# the 1 MiB blocks and report the resident memory they left (the 16 MiB still in use not counted).
SCENARIO = r"""
import ctypes, sys
from kd_assets.sync.heap import bound_heap
if sys.argv[1] == "bounded":
    assert bound_heap() and bound_heap()  # set, and a second call is harmless
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

def touched(size):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    return block

libc.free(touched(8 << 20))
before = rss_kib()
blocks, pins = [], []
for _ in range(64):
    blocks.append(touched(1 << 20))
    pins.append(touched(256 << 10))
for block in blocks:
    libc.free(block)
print(rss_kib() - before - 64 * 256)
"""


def _left_behind_mib(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", SCENARIO, mode], capture_output=True, text=True, check=True)
    return int(out.stdout) / 1024


def test_freed_large_blocks_are_returned_once_the_heap_is_bounded():
    assert _left_behind_mib("bounded") < 4


def test_without_it_the_same_blocks_stay_resident():  # what bound_heap is for: the scenario pins them
    assert _left_behind_mib("default") > 56
