"""Request body parsing for the whole API."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# Our bodies are flat objects; anything deeper than this is not a request we understand.
MAX_JSON_DEPTH = 32


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than ``MAX_JSON_DEPTH`` with a 400.

    Python's decoder recurses once per level and raises ``RecursionError`` near 1,000.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."
            ) from None
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data


def _depth_exceeds(data, limit: int) -> bool:
    # Iterative, so that checking a deep value cannot itself recurse too far.
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False
