"""Races, with real threads and connections: one refresh token, one e-mail, many requests."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection
from django.test import TransactionTestCase
from django.urls import reverse
from rest_framework.test import APIClient

from app.accounts import services
from app.accounts.models import RefreshToken, User
from tests.accounts_tests.factories import PASSWORD, make_user

THREADS = 8


def race(path, body, count=THREADS):
    """POST ``body`` to ``path`` from ``count`` threads released at once; return the statuses."""
    barrier = threading.Barrier(count)

    def one(_):
        client = APIClient()
        try:
            barrier.wait(timeout=30)
            return client.post(path, body, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(count) as pool:
        return sorted(pool.map(one, range(count)))


class ConcurrencyTests(TransactionTestCase):
    def test_parallel_refreshes_of_one_token_let_exactly_one_succeed(self):
        make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        statuses = race(reverse("refresh"), {"refresh_token": pair.refresh_token})
        self.assertEqual(statuses, [200] + [401] * (THREADS - 1))
        # The losers replayed a used token: the whole session is revoked, the winner's too.
        self.assertFalse(RefreshToken.objects.filter(revoked_at=None).exists())
        self.assertEqual(RefreshToken.objects.count(), 2)

    def test_parallel_registrations_of_one_email_create_exactly_one_user(self):
        body = {"email": "race@example.com", "password": PASSWORD}
        statuses = race(reverse("register"), body)
        self.assertEqual(statuses, [201] + [400] * (THREADS - 1))
        self.assertEqual(User.objects.count(), 1)

    def test_parallel_registrations_in_different_cases_create_exactly_one_user(self):
        emails = [f"{'R' * n}{'r' * (4 - n)}ace@example.com" for n in range(4)]
        barrier = threading.Barrier(len(emails))

        def one(email):
            try:
                barrier.wait(timeout=30)
                return (
                    APIClient()
                    .post(
                        reverse("register"), {"email": email, "password": PASSWORD}, format="json"
                    )
                    .status_code
                )
            finally:
                connection.close()

        with ThreadPoolExecutor(len(emails)) as pool:
            statuses = sorted(pool.map(one, emails))
        self.assertEqual(statuses, [201, 400, 400, 400])
        self.assertEqual(User.objects.count(), 1)
