"""Keep freed memory in the process instead of handing it back to the kernel (glibc's malloc only).

A training step allocates and frees the same large buffers (activations, their gradients) every step. By
default glibc returns a freed block of more than a few MB to the kernel at once, so the next step's buffer
of the same size is fresh memory that faults in page by page on first touch; on a virtual machine each fault
is costly. Measured on a 2-core Intel Xeon VM (one thread): so2_mnist's training step spent about 14% of its
time that way, a plain CNN almost none, because so2 keeps one more activation per block (its nonlinearity
recomputes its samples from the input). PyTorch's CPU tuning guide recommends jemalloc or tcmalloc for the
same reason; this is the same effect without another library: blocks up to 32 MiB come from the heap and the
heap is not trimmed, so memory is reused from step to step. The price is that the process keeps its peak
memory until it exits, which a training process does anyway.
"""
from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 << 20  # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Configure glibc's malloc as above for the rest of this process; True where it took effect (Linux with
    glibc), False elsewhere (nothing changes there)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
