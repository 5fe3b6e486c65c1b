"""Races, as an attacker runs them: real threads, each with its own database connection, and
gunicorn worker processes. The guarantees are exact on PostgreSQL (row locks at READ COMMITTED)
and on SQLite (one writer at a time)."""

import contextlib
import os
import random
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.test import TransactionTestCase, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from app.accounts import services
from app.accounts.models import RefreshToken, Session, User
from app.accounts.tokens import decode_access_token, refresh_token_digest
from tests.accounts_tests.factories import PASSWORD, make_user
from tests.support.http import request
from tests.support.live_server import start_gunicorn

THREADS = 16
ROUNDS = 100
LIMITS = {"window_seconds": 300, "per_email": 5, "per_address": 1000}


def race(requests):
    """Send each ``(path, body)`` from its own thread, all released at once; return statuses."""
    barrier = threading.Barrier(len(requests))

    def one(request):
        path, body = request
        try:
            barrier.wait(timeout=30)
            return APIClient().post(path, body, format="json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, requests))


class Thief(threading.Thread):
    """Refreshes a stolen token in a loop, keeping each new one, until refused or told to stop.

    ``answers`` holds ``(sent_at, status)``: a 200 sent after the session was ended is an escape.
    """

    def __init__(self, token, started):
        super().__init__(daemon=True)
        self.token = token
        self.started = started
        self.answers = []
        self.ended_at = None

    def run(self):
        client = APIClient()
        try:
            self.started.set()
            for _ in range(400):
                sent_at = time.monotonic()
                response = client.post(
                    reverse("refresh"), {"refresh_token": self.token}, format="json"
                )
                self.answers.append((sent_at, response.status_code))
                if response.status_code != 200:
                    return
                self.token = response.json()["refresh_token"]
                if self.ended_at is not None and sent_at > self.ended_at + 0.05:
                    return
        finally:
            connection.close()

    def escapes(self):
        return sum(1 for sent, status in self.answers if status == 200 and sent > self.ended_at)


@pytest.mark.slow
class SessionRaceTests(TransactionTestCase):
    """A thief refreshing in a loop while the session is ended: never a token afterwards."""

    def setUp(self):
        self.user = make_user()

    def play_rounds(self, end_session):
        """``ROUNDS`` rounds of: log in, the thief takes the token, ``end_session`` races it."""
        escapes = 0
        rng = random.Random(7)
        for _ in range(ROUNDS):
            victim = services.login(email="user@example.com", password=PASSWORD)
            stolen = services.rotate(refresh_token=victim.refresh_token)
            started = threading.Event()
            thief = Thief(stolen.refresh_token, started)
            thief.start()
            started.wait()
            time.sleep(rng.uniform(0, 0.01))
            end_session(victim)
            thief.ended_at = time.monotonic()
            thief.join(timeout=30)
            escapes += thief.escapes()
            # Whatever the thief holds now is dead, and the session is ended in the database.
            answer = APIClient().post(
                reverse("refresh"), {"refresh_token": thief.token}, format="json"
            )
            self.assertEqual(answer.status_code, 401)
        self.assertFalse(Session.objects.filter(revoked_at=None).exists())
        self.assertEqual(escapes, 0)

    def test_reuse_detection_ends_the_session_for_a_thief_refreshing_in_a_loop(self):
        def victim_refreshes_with_the_used_token(victim):
            response = APIClient().post(
                reverse("refresh"), {"refresh_token": victim.refresh_token}, format="json"
            )
            self.assertEqual(response.status_code, 401)

        self.play_rounds(victim_refreshes_with_the_used_token)

    def test_logout_ends_the_session_for_a_thief_refreshing_in_a_loop(self):
        def victim_logs_out(victim):
            response = APIClient().post(
                reverse("logout"), {"refresh_token": victim.refresh_token}, format="json"
            )
            self.assertEqual(response.status_code, 200)

        self.play_rounds(victim_logs_out)

    def test_logout_everywhere_ends_the_session_for_a_thief_refreshing_in_a_loop(self):
        def victim_logs_out_everywhere(victim):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {victim.access_token}")
            self.assertEqual(client.post(reverse("logout-all")).status_code, 200)

        self.play_rounds(victim_logs_out_everywhere)

    def test_a_password_change_elsewhere_ends_the_session_for_a_thief_refreshing_in_a_loop(self):
        def victim_changes_the_password_from_another_session(victim):
            other = services.login(email="user@example.com", password=PASSWORD)
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.access_token}")
            body = {"current_password": PASSWORD, "new_password": f"{PASSWORD}-next"}
            response = client.post(reverse("password"), body, format="json")
            self.assertEqual(response.status_code, 200)
            # For the next round: the old password back (a plain UPDATE, no signal) and the
            # session that made the change closed. Neither touches the thief's session.
            self.user.set_password(PASSWORD)
            User.objects.filter(pk=self.user.pk).update(password=self.user.password)
            kept = decode_access_token(response.json()["access_token"], now=timezone.now())
            services.end_sessions(session_ids=[kept.session_id])

        self.play_rounds(victim_changes_the_password_from_another_session)

    def test_disabling_password_login_in_the_admin_ends_the_session_for_a_thief_refreshing(self):
        staff = User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        admin = APIClient()
        admin.force_login(staff)

        def staff_disable_password_login(victim):
            response = admin.post(
                reverse("admin:auth_user_password_change", args=[self.user.pk]),
                {"usable_password": "false", "unset-password": "Disable"},
                format="multipart",
            )
            self.assertEqual(response.status_code, 302)
            # For the next round: the password back (a plain UPDATE, no signal).
            self.user.set_password(PASSWORD)
            User.objects.filter(pk=self.user.pk).update(password=self.user.password)

        self.play_rounds(staff_disable_password_login)

    def test_the_admin_action_ends_the_session_for_a_thief_refreshing_in_a_loop(self):
        staff = User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        admin = APIClient()
        admin.force_login(staff)

        def staff_end_the_session(victim):
            session = Session.objects.get(tokens__digest=refresh_token_digest(victim.refresh_token))
            response = admin.post(
                reverse("admin:accounts_session_changelist"),
                {"action": "end_sessions", "_selected_action": [session.pk]},
                format="multipart",
            )
            self.assertEqual(response.status_code, 302)

        self.play_rounds(staff_end_the_session)


class RotationLockTests(TransactionTestCase):
    def test_a_rotation_waits_for_a_revocation_in_progress_and_then_refuses(self):
        make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        session = Session.objects.get()

        def revoke():
            Session.objects.filter(pk=session.pk).update(revoked_at=timezone.now())

        with held_open(revoke) as release, ThreadPoolExecutor(1) as pool:
            refresh = pool.submit(
                race, [(reverse("refresh"), {"refresh_token": pair.refresh_token})]
            )
            wait_until_a_query_waits_for_a_lock()
            release()
            statuses = refresh.result(timeout=30)
        self.assertEqual(statuses, [401])
        self.assertEqual(RefreshToken.objects.count(), 1)


class LoginDuringPasswordChangeTests(TransactionTestCase):
    def test_a_login_that_checked_the_old_password_starts_no_session_once_the_change_commits(self):
        user = make_user()

        def change_password():
            user.set_password("a-brand-new-phrase-9")
            user.save()

        credentials = {"email": "user@example.com", "password": PASSWORD}
        with held_open(change_password) as release, ThreadPoolExecutor(1) as pool:
            login = pool.submit(race, [(reverse("login"), credentials)])
            # On PostgreSQL the login reads the old password (the change is not committed),
            # checks it, and then waits on the user's row: release the change only then.
            wait_until_a_query_waits_for_a_lock()
            release()
            statuses = login.result(timeout=30)
        self.assertEqual(statuses, [401])
        self.assertFalse(Session.objects.filter(revoked_at=None).exists())


@contextlib.contextmanager
def held_open(work):
    """Run ``work`` in a transaction in another thread and keep that transaction, with its row
    locks, open until ``release()`` is called (or the block ends); then commit it."""
    holding, released = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                work()
                holding.set()
                released.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(timeout=30)
    try:
        yield released.set
    finally:
        released.set()
        holder.join()


def wait_until_a_query_waits_for_a_lock(timeout=10.0):
    """PostgreSQL: until another connection waits for a row lock; SQLite, whose writers queue
    for the one lock before they read, is given a moment."""
    if connection.vendor != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no query came to wait for the lock")


class ParallelRequestTests(TransactionTestCase):
    def test_parallel_refreshes_of_one_token_let_exactly_one_succeed(self):
        make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        statuses = race([(reverse("refresh"), {"refresh_token": pair.refresh_token})] * THREADS)
        self.assertEqual(sorted(statuses), [200] + [401] * (THREADS - 1))
        # The losers replayed a used token: the session is ended, the winner's token with it.
        self.assertFalse(Session.objects.filter(revoked_at=None).exists())
        self.assertEqual(RefreshToken.objects.count(), 2)

    def test_parallel_registrations_of_one_email_in_any_spelling_create_exactly_one_user(self):
        spellings = [
            "race@example.com",
            "RACE@example.com",
            "race@ＥＸＡＭＰＬＥ.com",
            "Race@Example.COM",
        ]
        statuses = race(
            [(reverse("register"), {"email": email, "password": PASSWORD}) for email in spellings]
        )
        self.assertEqual(sorted(statuses), [201, 400, 400, 400])
        self.assertEqual(User.objects.count(), 1)

    @override_settings(LOGIN_THROTTLE=LIMITS)
    def test_sixteen_simultaneous_logins_check_at_most_five_wrong_passwords(self):
        make_user()
        wrong = [(reverse("login"), {"email": "user@example.com", "password": "wrong"})] * 15
        right = [(reverse("login"), {"email": "user@example.com", "password": PASSWORD})]
        statuses = race(wrong + right)
        self.assertLessEqual(statuses.count(401), 5)
        self.assertGreaterEqual(statuses.count(429), 10)
        self.assertEqual(statuses.count(401) + statuses.count(429) + statuses.count(200), 16)


@pytest.mark.slow
class WorkerProcessThrottleTests(TransactionTestCase):
    """Sixteen simultaneous wrong logins spread over four gunicorn worker processes."""

    def setUp(self):
        make_user()
        settings_dict = connection.settings_dict
        if connection.vendor == "postgresql":
            database_url = (
                f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:"
                f"{settings_dict['PORT']}/{settings_dict['NAME']}"
            )
        else:
            database_url = f"sqlite:///{settings_dict['NAME']}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "LOGIN_THROTTLE_PER_EMAIL": "5",
            "LOGIN_THROTTLE_PER_ADDRESS": "1000",
        }
        self.server, self.url, listener = start_gunicorn(env, workers=4, log=subprocess.DEVNULL)
        self.addCleanup(listener.close)
        self.addCleanup(self.server.wait, timeout=30)
        self.addCleanup(self.server.terminate)

    def login(self, password):
        body = {"email": "user@example.com", "password": password}
        return request(f"{self.url}/api/login/", "POST", body).status

    def test_at_most_five_are_checked_across_worker_processes_and_the_rest_get_429(self):
        barrier = threading.Barrier(THREADS)

        def one(_):
            barrier.wait(timeout=30)
            return self.login("wrong-password")

        with ThreadPoolExecutor(THREADS) as pool:
            statuses = list(pool.map(one, range(THREADS)))
        self.assertEqual(sorted(statuses), [401] * 5 + [429] * (THREADS - 5))
        self.assertEqual(self.login(PASSWORD), 429)
