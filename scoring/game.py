"""The match generator, in PEP 8, and ``get_score`` over its stamps.

What the generator guarantees, and what ``get_score`` relies on:

* ``generate_game()`` returns ``TIMESTAMPS_COUNT + 1`` stamps; the first is the kick-off,
  offset 0 and score 0:0.
* Offsets strictly increase, by a step of 1 to ``OFFSET_MAX_STEP`` (3), so the list is sorted
  by offset and most offsets have no stamp of their own: those hold the previous score.
* A score never goes down and changes by at most one goal, for one side, per stamp.

What we changed and why: the original put the module-level ``INITIAL_STAMP`` dict itself at the
head of every game, so one game's first stamp was shared with every other game and with the
constant; mutating it corrupted them all. Each game now starts with its own copy. The
generator also takes keyword-only knobs (count, goal probability, random source) so that tests
and the benchmark can make seeded, dense or large games; the defaults are the original's.
"""

from __future__ import annotations

import copy
import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

TIMESTAMPS_COUNT = 50000

PROBABILITY_SCORE_CHANGED = 0.0001

PROBABILITY_HOME_SCORE = 0.45

OFFSET_MAX_STEP = 3

INITIAL_STAMP = {
    "offset": 0,
    "score": {
        "home": 0,
        "away": 0,
    },
}

Stamp = dict[str, Any]

# A C-level key keeps each of the ~log2(n) probes cheap (a Python lambda costs 3x more).
_stamp_offset = itemgetter("offset")


def generate_stamp(
    previous_value: Stamp,
    *,
    probability_score_changed: float = PROBABILITY_SCORE_CHANGED,
    rng: random.Random | Any = random,
) -> Stamp:
    """Return the stamp that follows ``previous_value``: 1 to 3 offsets later, 0 or 1 goal more."""
    score_changed = rng.random() > 1 - probability_score_changed
    home_score_change = 1 if score_changed and rng.random() > 1 - PROBABILITY_HOME_SCORE else 0
    away_score_change = 1 if score_changed and not home_score_change else 0
    offset_change = math.floor(rng.random() * OFFSET_MAX_STEP) + 1

    return {
        "offset": previous_value["offset"] + offset_change,
        "score": {
            "home": previous_value["score"]["home"] + home_score_change,
            "away": previous_value["score"]["away"] + away_score_change,
        },
    }


def generate_game(
    *,
    timestamps_count: int = TIMESTAMPS_COUNT,
    probability_score_changed: float = PROBABILITY_SCORE_CHANGED,
    rng: random.Random | Any = random,
) -> list[Stamp]:
    """Return a whole match: the kick-off stamp followed by ``timestamps_count`` stamps."""
    current_stamp = copy.deepcopy(INITIAL_STAMP)
    stamps = [current_stamp]
    for _ in range(timestamps_count):
        current_stamp = generate_stamp(
            current_stamp,
            probability_score_changed=probability_score_changed,
            rng=rng,
        )
        stamps.append(current_stamp)

    return stamps


def get_score(game_stamps: Sequence[Stamp], offset: int) -> tuple[int, int]:
    """Return ``(home, away)`` at ``offset``: the score of the last stamp at or before it.

    An offset between two stamps (one with no score of its own) holds the earlier stamp's
    score, and any offset after the last stamp holds the final score. The stamps must be
    sorted by offset, as ``generate_game()`` makes them; the list is neither copied nor
    changed, and each call costs O(log n).

    Raises ``TypeError`` when ``game_stamps`` is not a sequence of stamps (``None``, a dict,
    a string) or ``offset`` is not an ``int`` (``bool`` included), and ``ValueError`` when the
    list is empty or ``offset`` comes before its first stamp (a negative offset, or a list that
    starts mid-game): no score is known there.
    """
    # The list check first: it is what generate_game() makes, and the ABC check costs more.
    if type(game_stamps) is not list and (
        not isinstance(game_stamps, Sequence) or isinstance(game_stamps, str | bytes)
    ):
        raise TypeError(
            f"game_stamps must be a sequence of stamps, got {type(game_stamps).__name__}"
        )
    # bool is an int subclass, but True is no moment of a match.
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise TypeError(f"offset must be an int, got {type(offset).__name__}: {offset!r}")
    if not game_stamps:
        raise ValueError("game_stamps is empty: there is no score to read")

    low, high = 0, len(game_stamps) - 1
    low_offset = game_stamps[low]["offset"]
    high_offset = game_stamps[high]["offset"]
    if offset < low_offset:
        raise ValueError(
            f"offset {offset} is before the first stamp (offset {low_offset}): "
            "no score is known yet"
        )
    if offset >= high_offset:
        low = high

    # Offsets grow about evenly (1 to 3 a stamp), so interpolation search lands next to
    # the answer in about three probes where bisection needs log2(n), each a cache miss on
    # a large list. After log2(n) probes binary search takes over: O(log n) for any sorted
    # list. Invariant: low_offset <= offset < high_offset, hence low <= probe < high.
    probes_left = high.bit_length()
    while high - low > 1:
        if not probes_left:
            low = bisect_right(game_stamps, offset, low + 1, high, key=_stamp_offset) - 1
            break
        probes_left -= 1
        probe = low + (offset - low_offset) * (high - low) // (high_offset - low_offset)
        if probe == low:
            probe += 1
        probe_offset = game_stamps[probe]["offset"]
        if probe_offset <= offset:
            low, low_offset = probe, probe_offset
        else:
            high, high_offset = probe, probe_offset

    score = game_stamps[low]["score"]
    return score["home"], score["away"]
