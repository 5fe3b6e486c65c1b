"""Time get_score per query at 50,000 and 1,000,000 stamps against a linear scan.

Run by ``scripts/bench``. The three measurements are interleaved in rounds so that the
machine's speed drifting during the run hits them alike; each figure is the median of the
rounds, and the ratios are the medians of the per-round ratios. Prints a Markdown table.
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time

from scoring.game import generate_game, get_score

ROUNDS = 7
QUERIES = 20_000
LINEAR_QUERIES = 300


def linear_score(game_stamps: list[dict], offset: int) -> tuple[int, int]:
    """The O(n) baseline: walk until the first stamp past ``offset``."""
    found = game_stamps[0]
    for stamp in game_stamps:
        if stamp["offset"] > offset:
            break
        found = stamp
    return found["score"]["home"], found["score"]["away"]


def per_query(function, game: list[dict], offsets: list[int]) -> float:
    """Seconds per call of ``function`` over ``offsets``, without GC pauses (as timeit)."""
    gc.disable()
    try:
        start = time.perf_counter()
        for offset in offsets:
            function(game, offset)
        return (time.perf_counter() - start) / len(offsets)
    finally:
        gc.enable()


def main() -> int:
    """Print the table, and whether this run met the targets (a report: it never fails)."""
    rng = random.Random(2026)
    small = generate_game(timestamps_count=50_000, rng=random.Random(1))
    large = generate_game(timestamps_count=1_000_000, rng=random.Random(2))
    small_offsets = [rng.randint(0, small[-1]["offset"]) for _ in range(QUERIES)]
    large_offsets = [rng.randint(0, large[-1]["offset"]) for _ in range(QUERIES)]
    linear_offsets = small_offsets[:LINEAR_QUERIES]

    rounds = []
    for _ in range(ROUNDS):
        small_time = per_query(get_score, small, small_offsets)
        linear_time = per_query(linear_score, small, linear_offsets)
        large_time = per_query(get_score, large, large_offsets)
        rounds.append((small_time, large_time, linear_time))

    small_time, large_time, linear_time = (statistics.median(each) for each in zip(*rounds))
    speedups = sorted(linear / small for small, _, linear in rounds)
    growth = statistics.median(large / small for small, large, _ in rounds)
    speedup = statistics.median(speedups)
    print(f"| scoring ({ROUNDS} rounds, medians) | stamps | per query | note |")
    print("|---|---|---|---|")
    print(
        f"| get_score | 50,000 | {small_time * 1e6:.2f} µs | "
        f"{speedup:,.0f}x faster than linear (rounds {speedups[0]:,.0f}x-{speedups[-1]:,.0f}x) |"
    )
    print(f"| get_score | 1,000,000 | {large_time * 1e6:.2f} µs | {growth:.2f}x the 50,000 cost |")
    print(f"| linear scan | 50,000 | {linear_time * 1e6:,.0f} µs | baseline |")
    ok = speedup >= 300 and growth < 5
    print(
        f"targets (>=300x faster than linear, <5x growth): {'met' if ok else 'missed'} in this run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
