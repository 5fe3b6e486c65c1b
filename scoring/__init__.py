"""The score of a match at any moment, from the stamps of ``generate_game()``."""

from scoring.game import generate_game, generate_stamp, get_score

__all__ = ["generate_game", "generate_stamp", "get_score"]
