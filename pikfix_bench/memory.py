"""Handing freed memory back to the operating system between phases of long CPU work.

glibc keeps freed heap memory for reuse, and after PyTorch's large CPU tensors it keeps a lot: after a
training epoch on the CPU the process holds ~1 GiB that nothing uses, and the validation that follows
(which loads LPIPS) then peaks on top of it. :func:`release_free_memory` asks glibc to return it
(``malloc_trim``). Elsewhere (macOS, musl, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # no such C library, or no malloc_trim in it
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system (glibc); whether anything could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
