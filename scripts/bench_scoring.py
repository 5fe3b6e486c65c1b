"""Time get_score per query at 50,000 and 1,000,000 stamps against a linear scan.

Run by ``scripts/bench``. Prints a Markdown table; every figure comes from this run.
"""

from __future__ import annotations

import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.game import generate_game, get_score

QUERIES = 20_000
LINEAR_QUERIES = 500


def linear_score(game_stamps: list[dict], offset: int) -> tuple[int, int]:
    """The O(n) baseline: walk until the first stamp past ``offset``."""
    found = game_stamps[0]
    for stamp in game_stamps:
        if stamp["offset"] > offset:
            break
        found = stamp
    return found["score"]["home"], found["score"]["away"]


def per_query(function, game: list[dict], count: int, rng: random.Random) -> float:
    """Best of five runs: seconds per call of ``function`` on random offsets of ``game``."""
    last = game[-1]["offset"]
    offsets = [rng.randint(0, last) for _ in range(count)]
    best = float("inf")
    # As timeit does: no garbage collection pauses inside the timed loop.
    gc.disable()
    try:
        for _ in range(5):
            start = time.perf_counter()
            for offset in offsets:
                function(game, offset)
            best = min(best, (time.perf_counter() - start) / count)
    finally:
        gc.enable()
    return best


def main() -> int:
    """Print the table and fail when the targets of issue 2 are missed."""
    rng = random.Random(2026)
    small = generate_game(timestamps_count=50_000, rng=random.Random(1))
    large = generate_game(timestamps_count=1_000_000, rng=random.Random(2))
    small_time = per_query(get_score, small, QUERIES, rng)
    large_time = per_query(get_score, large, QUERIES, rng)
    linear_time = per_query(linear_score, small, LINEAR_QUERIES, rng)
    speedup = linear_time / small_time
    growth = large_time / small_time
    print("| scoring | stamps | per query | note |")
    print("|---|---|---|---|")
    print(
        f"| get_score | 50,000 | {small_time * 1e6:.2f} µs | {speedup:,.0f}x faster than linear |"
    )
    print(f"| get_score | 1,000,000 | {large_time * 1e6:.2f} µs | {growth:.2f}x the 50,000 cost |")
    print(f"| linear scan | 50,000 | {linear_time * 1e6:,.0f} µs | baseline |")
    ok = speedup >= 300 and growth < 5
    print(f"targets (>=300x, <5x): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
