"""numpy's summation order, compiled (numba): a kernel that must add floats exactly as
``np.sum`` does (the same IEEE additions in the same order) calls :func:`pairwise`.

numpy reduces a contiguous run of doubles (a 1-D array, or the last axis of a C-ordered array)
by pairwise summation (``pairwise_sum`` in numpy's ``loops_utils.h.src``); along an outer axis
it adds the rows one after the other. Used by the federated SOCF kernels and the fl-migration
allocation's capacity search; tested there against ``np.sum`` on many arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["block", "pairwise"]


@njit(cache=True)
def block(a: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """numpy's pairwise sum of ``a[start:start + n]`` for n <= 128: a plain loop below 8
    terms, else 8 accumulators, combined as ((0+1)+(2+3))+((4+5)+(6+7)), then the rest."""
    if n < 8:
        res = 0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = 8
    stop = n - (n % 8)
    while i < stop:
        j = start + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@njit(cache=True)
def pairwise(a: np.ndarray) -> float:  # pragma: no cover - compiled
    """numpy's pairwise summation of ``a`` (``pairwise_sum`` in numpy's ``loops_utils.h.src``):
    blocks of at most 128 (:func:`block`); a longer range is split at ``n2 = n // 2`` rounded
    down to a multiple of 8 and the halves' sums added. Written with explicit stacks (numba
    cannot cache a recursive function)."""
    if len(a) <= 128:
        return block(a, 0, len(a))
    todo_start = np.empty(128, dtype=np.int64)  # depth <= log2(len) + 1 per level: ample
    todo_n = np.empty(128, dtype=np.int64)
    todo_open = np.empty(128, dtype=np.bool_)  # True: children not pushed yet
    sums = np.empty(128)
    top = 0
    nsum = 0
    todo_start[0], todo_n[0], todo_open[0] = 0, len(a), True
    top = 1
    while top > 0:
        top -= 1
        s, n, fresh = todo_start[top], todo_n[top], todo_open[top]
        if n <= 128:
            sums[nsum] = block(a, s, n)
            nsum += 1
        elif fresh:
            n2 = n // 2
            n2 -= n2 % 8
            todo_start[top], todo_n[top], todo_open[top] = s, n, False  # combine after both
            todo_start[top + 1], todo_n[top + 1], todo_open[top + 1] = s + n2, n - n2, True
            todo_start[top + 2], todo_n[top + 2], todo_open[top + 2] = s, n2, True
            top += 3
        else:  # both halves done: left was pushed last, so it is below the right's sum
            right = sums[nsum - 1]
            left = sums[nsum - 2]
            sums[nsum - 2] = left + right
            nsum -= 1
    return sums[0]
