"""Pages of a user's sessions: a cursor over the newest first, so a page costs the same however
many rows the table holds (DRF's ``CursorPagination``); the page size is read at call time."""

from django.conf import settings
from rest_framework.pagination import CursorPagination


class SessionsPage(CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "page_size"

    def get_page_size(self, request) -> int:
        """``page_size`` from the query when given, within ``SESSIONS_MAX_PAGE_SIZE``."""
        self.page_size = settings.SESSIONS_PAGE_SIZE
        self.max_page_size = settings.SESSIONS_MAX_PAGE_SIZE
        return super().get_page_size(request)
