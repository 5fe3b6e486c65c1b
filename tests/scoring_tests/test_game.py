"""The contract of ``get_score`` and the generator's invariants (``scoring/game.py``)."""

import copy
import random
import unittest

from scoring.game import (
    INITIAL_STAMP,
    OFFSET_MAX_STEP,
    TIMESTAMPS_COUNT,
    generate_game,
    get_score,
)


def stamp(offset, home, away):
    return {"offset": offset, "score": {"home": home, "away": away}}


# A hand-made game: kick-off, a gap with no stamps (offsets 1 and 2), a home goal at 3,
# an away goal at 5, and the last stamp at 8.
GAME = [
    stamp(0, 0, 0),
    stamp(3, 1, 0),
    stamp(4, 1, 0),
    stamp(5, 1, 1),
    stamp(8, 1, 1),
]


def linear_score(game_stamps, offset):
    """The obvious O(n) answer that get_score must agree with."""
    found = None
    for each in game_stamps:
        if each["offset"] > offset:
            break
        found = (each["score"]["home"], each["score"]["away"])
    return found


class GetScoreTests(unittest.TestCase):
    def test_offset_of_a_stamp_returns_that_stamps_score(self):
        self.assertEqual(get_score(GAME, 3), (1, 0))

    def test_offset_between_stamps_returns_the_earlier_stamps_score(self):
        self.assertEqual(get_score(GAME, 2), (0, 0))

    def test_kick_off_returns_nil_nil(self):
        self.assertEqual(get_score(GAME, 0), (0, 0))

    def test_last_stamp_returns_the_final_score(self):
        self.assertEqual(get_score(GAME, 8), (1, 1))

    def test_offset_after_the_end_holds_the_final_score(self):
        self.assertEqual(get_score(GAME, 10**9), (1, 1))

    def test_score_is_returned_as_home_then_away(self):
        self.assertEqual(get_score([stamp(0, 2, 5)], 0), (2, 5))

    def test_result_is_a_tuple_of_two_ints(self):
        result = get_score(GAME, 5)
        self.assertIs(type(result), tuple)
        self.assertEqual([type(goal) for goal in result], [int, int])

    def test_offset_before_the_first_stamp_of_a_sliced_game_raises_value_error(self):
        with self.assertRaisesRegex(ValueError, "before the first stamp"):
            get_score(GAME[1:], 2)

    def test_negative_offset_raises_value_error(self):
        with self.assertRaisesRegex(ValueError, "offset -1 is before the first stamp"):
            get_score(GAME, -1)

    def test_a_value_that_is_not_a_sequence_of_stamps_raises_type_error(self):
        for bad in (None, {}, {"offset": 0}, "stamps", 7):
            with self.subTest(game_stamps=bad):
                with self.assertRaisesRegex(TypeError, "game_stamps must be a sequence of stamps"):
                    get_score(bad, 1)

    def test_empty_game_raises_value_error(self):
        with self.assertRaisesRegex(ValueError, "empty"):
            get_score([], 0)

    def test_offset_that_is_not_an_int_raises_type_error(self):
        for bad in ("3", None, 3.0, True, [3]):
            with self.subTest(offset=bad):
                with self.assertRaisesRegex(
                    TypeError, f"offset must be an int, got {type(bad).__name__}"
                ):
                    get_score(GAME, bad)

    def test_game_stamps_are_left_unchanged(self):
        game = copy.deepcopy(GAME)
        get_score(game, 6)
        self.assertEqual(game, GAME)

    def test_agrees_with_a_linear_scan_on_every_offset_of_seeded_dense_games(self):
        for seed in range(5):
            game = generate_game(
                timestamps_count=500,
                probability_score_changed=0.3,
                rng=random.Random(seed),
            )
            for offset in range(game[-1]["offset"] + OFFSET_MAX_STEP + 1):
                with self.subTest(seed=seed, offset=offset):
                    self.assertEqual(get_score(game, offset), linear_score(game, offset))

    def test_agrees_with_a_linear_scan_on_lists_with_uneven_gaps(self):
        # Clustered offsets with huge jumps defeat interpolation and reach the bisection.
        rng = random.Random(11)
        offsets = sorted(rng.sample(range(50), 40) + rng.sample(range(10**6, 10**6 + 10**4), 400))
        game = [stamp(each, index, 0) for index, each in enumerate(offsets)]
        probes = offsets + [each + 1 for each in offsets] + [10**6 - 1, 10**7]
        for offset in probes:
            if offset >= offsets[0]:
                with self.subTest(offset=offset):
                    self.assertEqual(get_score(game, offset), linear_score(game, offset))


class GenerateGameTests(unittest.TestCase):
    def setUp(self):
        self.game = generate_game(
            timestamps_count=2000, probability_score_changed=0.2, rng=random.Random(7)
        )

    def test_default_game_has_kick_off_plus_timestamps_count_stamps(self):
        self.assertEqual(len(generate_game(rng=random.Random(0))), TIMESTAMPS_COUNT + 1)

    def test_game_starts_at_offset_zero_with_nil_nil(self):
        self.assertEqual(self.game[0], INITIAL_STAMP)

    def test_offsets_rise_by_one_to_offset_max_step(self):
        steps = {b["offset"] - a["offset"] for a, b in zip(self.game, self.game[1:])}
        self.assertEqual(steps, set(range(1, OFFSET_MAX_STEP + 1)))

    def test_score_never_falls_and_rises_by_at_most_one_goal_per_stamp(self):
        changes = {
            (
                b["score"]["home"] - a["score"]["home"],
                b["score"]["away"] - a["score"]["away"],
            )
            for a, b in zip(self.game, self.game[1:])
        }
        self.assertEqual(changes, {(0, 0), (1, 0), (0, 1)})

    def test_same_seed_makes_the_same_game(self):
        again = generate_game(
            timestamps_count=2000, probability_score_changed=0.2, rng=random.Random(7)
        )
        self.assertEqual(again, self.game)

    def test_each_game_has_its_own_kick_off_stamp(self):
        self.game[0]["score"]["home"] = 99
        self.assertEqual(INITIAL_STAMP["score"]["home"], 0)
        self.assertIsNot(generate_game(timestamps_count=1)[0], self.game[0])


if __name__ == "__main__":
    unittest.main()
