"""Pages of a user's sessions: a cursor over the newest first, so a page costs the same however
many rows the table holds (DRF's ``CursorPagination``); the page size is read at call time."""

from datetime import datetime

from django.conf import settings
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination


class SessionsPage(CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "page_size"

    def get_page_size(self, request) -> int:
        """``page_size`` from the query when given, within ``SESSIONS_MAX_PAGE_SIZE``."""
        self.page_size = settings.SESSIONS_PAGE_SIZE
        self.max_page_size = settings.SESSIONS_MAX_PAGE_SIZE
        return super().get_page_size(request)

    def decode_cursor(self, request) -> Cursor | None:
        """DRF's cursor, whose position must also be a date: DRF hands any text to the
        query, where a position that is no date is a 500 (a JSON 404 here, as DRF answers
        every other bad cursor)."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                datetime.fromisoformat(cursor.position)
            except ValueError:
                raise NotFound(self.invalid_cursor_message) from None
        return cursor
