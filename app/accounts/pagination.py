"""Pages of a user's sessions and security events: a cursor over the newest first, so a page
costs the same however many rows the table holds (DRF's ``CursorPagination``); the page size
is read at call time."""

from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination


class _NewestFirstPage(CursorPagination):
    """A cursor page whose size is read from ``size_setting`` and ``max_size_setting``, and
    whose cursor position must pass ``position_is_valid``: DRF hands any text to the query,
    where a position of the wrong type is a 500 (a JSON 404 here, as DRF answers every other
    bad cursor)."""

    page_size_query_param = "page_size"
    size_setting: str
    max_size_setting: str

    def get_page_size(self, request) -> int:
        """``page_size`` from the query when given, within the maximum setting."""
        self.page_size = getattr(settings, self.size_setting)
        self.max_page_size = getattr(settings, self.max_size_setting)
        return super().get_page_size(request)

    def decode_cursor(self, request) -> Cursor | None:
        """DRF's cursor, whose position must also be of the ordering's type."""
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not self.position_is_valid(position):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    def position_is_valid(self, position: str) -> bool:
        """Whether ``position`` can be compared with the ordering's column."""
        raise NotImplementedError


class SessionsPage(_NewestFirstPage):
    ordering = "-created_at"
    size_setting = "SESSIONS_PAGE_SIZE"
    max_size_setting = "SESSIONS_MAX_PAGE_SIZE"

    def position_is_valid(self, position: str) -> bool:
        """A date and time, as ``created_at`` is."""
        try:
            datetime.fromisoformat(position)
        except ValueError:
            return False
        return True


# Digits that fit a bigint: SQLite cannot bind a larger Python int, and PostgreSQL would refuse it.
_BIGINT = re.compile(r"[0-9]{1,18}")


class EventsPage(_NewestFirstPage):
    # The primary key: unique, so no event is skipped or shown twice between pages.
    ordering = "-id"
    size_setting = "EVENTS_PAGE_SIZE"
    max_size_setting = "EVENTS_MAX_PAGE_SIZE"

    def position_is_valid(self, position: str) -> bool:
        """A non-negative integer that fits the ``id`` column."""
        return _BIGINT.fullmatch(position) is not None
