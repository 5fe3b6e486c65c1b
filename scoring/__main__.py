"""``python -m scoring --seed N [--stamps N] OFFSET...``: print the score at each offset."""

from __future__ import annotations

import argparse
import random
import sys

from scoring.game import TIMESTAMPS_COUNT, generate_game, get_score


def build_parser() -> argparse.ArgumentParser:
    """Return the command line's parser."""
    parser = argparse.ArgumentParser(
        prog="python -m scoring",
        description="Generate a seeded game and print the score at each offset.",
    )
    parser.add_argument("--seed", type=int, required=True, help="random seed of the game")
    parser.add_argument(
        "--stamps",
        type=int,
        default=TIMESTAMPS_COUNT,
        help=f"stamps after the kick-off (default {TIMESTAMPS_COUNT})",
    )
    parser.add_argument("offsets", metavar="OFFSET", type=int, nargs="+")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print ``OFFSET HOME:AWAY`` per offset; an offset with no score goes to stderr, exit 1."""
    args = build_parser().parse_args(argv)
    game = generate_game(timestamps_count=args.stamps, rng=random.Random(args.seed))
    status = 0
    for offset in args.offsets:
        try:
            home, away = get_score(game, offset)
        except ValueError as error:
            print(f"{offset} error: {error}", file=sys.stderr)
            status = 1
        else:
            print(f"{offset} {home}:{away}")
    last = game[-1]
    print(
        f"# seed {args.seed}: {len(game)} stamps, last offset {last['offset']}, "
        f"final {last['score']['home']}:{last['score']['away']}"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
