#!/usr/bin/env python3
"""Writes the seed corpus: a few small inputs per target, in the encoding
fuzz_driver.h decodes. Run from anywhere; rewrites tests/fuzz/corpus/."""

import os
import random

TARGETS = ["sync_pool", "bounded_pool", "monotonic_arena", "size_class",
           "limit", "size_router", "routed_pools", "governor",
           "governed_stack", "nested_governor"]


def alloc(size_kind, size_bytes, align):
    # code 0 (allocate), size kind byte, size bytes, alignment byte
    return bytes([0, size_kind, *size_bytes, align])


def small(n, align=0):
    return alloc(0, [n], align)          # kind < 150: one byte of size


def medium(n, align=0):
    return alloc(160, [n & 0xFF, n >> 8], align)   # kind < 215: u16 % 4097


def free(i):
    return bytes([120, i & 0xFF, i >> 8])


def own(code, *args):
    return bytes([200 + code, *args])


def seeds(rng):
    churn = b"".join(small(8 * i, i % 5) for i in range(1, 12))
    churn += b"".join(free(0) for _ in range(6)) + churn
    aligned = b"".join(small(24, 170 + k) for k in range(13))  # up to 4096
    aligned += medium(3000, 245) + small(0, 252)               # 8192, invalid
    large = medium(4096, 0) + alloc(230, [0, 0, 1, 0], 3) + free(1)
    absurd = alloc(253, [0], 0) + alloc(254, [3], 0) + small(16)
    failing = bytes([190, 0]) + small(64) + bytes([191, 1]) + medium(2000)
    own_ops = b"".join(own(c, c, 0, 0, 0) + small(32 + c) for c in range(16))
    yield "churn", bytes([0, 1, 2, 3, 4, 5, 6, 7]) + churn
    yield "aligned", bytes([1] * 8) + aligned
    yield "large", bytes([2, 0, 1, 2, 1, 0, 2, 1]) + large + churn
    yield "absurd", bytes([3] * 8) + absurd
    yield "failing", bytes([4, 2, 1, 0, 3, 1, 2, 0]) + failing + churn
    yield "own_ops", bytes([5, 1, 0, 2, 0, 1, 1, 0]) + own_ops + churn + own_ops
    yield "random", bytes(rng.randrange(256) for _ in range(192))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for target in TARGETS:
        rng = random.Random(target)  # reproducible per target
        folder = os.path.join(root, target)
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds(rng):
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
