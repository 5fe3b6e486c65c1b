"""Races, as an attacker runs them: real threads, each with its own database connection, and
gunicorn worker processes. The guarantees are exact on PostgreSQL (row locks at READ COMMITTED)
and on SQLite (one writer at a time)."""

import contextlib
import json
import os
import random
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.client import HTTPConnection
from unittest import mock

import pytest
from constance.test import override_config
from django.contrib.auth.hashers import MD5PasswordHasher, make_password
from django.db import connection, transaction
from django.db.models import F
from django.test import TransactionTestCase, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from app.accounts import services
from app.accounts.models import RefreshToken, Session, User
from app.accounts.tokens import decode_access_token, refresh_token_digest
from devtools.http import request
from devtools.live_server import start_gunicorn
from tests.accounts_tests.factories import PASSWORD, login_throttle, make_user

THREADS = 16
# SQLite takes one writer at a time, so a race there is a queue: a few rounds show the same.
ROUNDS = 100 if connection.vendor == "postgresql" else 10
LIMITS = login_throttle(per_pair=5, per_address=1000)
# Loops that log in or change the password hundreds of times in one window.
GENEROUS = login_throttle(per_pair=10**6, per_address=10**6, ceiling=10**6, successes=10**6)


def race(requests):
    """Send each ``(path, body)`` or ``(path, body, extra)`` from its own thread, all released
    at once; return the statuses."""
    return [response.status_code for response in race_responses(requests)]


def race_responses(requests, delays=None):
    """As ``race``, returning the responses; ``delays`` holds each request's seconds to wait
    after the release (to land it in another's critical section)."""
    barrier = threading.Barrier(len(requests))
    delays = delays or [0] * len(requests)

    def one(numbered):
        number, (path, body, *extra) = numbered
        try:
            barrier.wait(timeout=30)
            time.sleep(delays[number])
            return APIClient().post(path, body, format="json", **(extra[0] if extra else {}))
        finally:
            connection.close()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, enumerate(requests)))


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
@override_settings(LOGIN_THROTTLE=GENEROUS)
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
            # Past the reuse interval: a copy shown then is reuse, whoever shows it.
            RefreshToken.objects.filter(digest=refresh_token_digest(victim.refresh_token)).update(
                used_at=F("used_at") - timedelta(seconds=11)
            )
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
    def test_parallel_refreshes_of_one_token_all_get_its_one_successor(self):
        make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        responses = race_responses(
            [(reverse("refresh"), {"refresh_token": pair.refresh_token})] * THREADS
        )
        self.assertEqual([response.status_code for response in responses], [200] * THREADS)
        successors = {response.json()["refresh_token"] for response in responses}
        self.assertEqual(len(successors), 1)
        # One chain: one successor issued, the session live, and it goes on.
        self.assertEqual(RefreshToken.objects.count(), 2)
        self.assertTrue(Session.objects.filter(revoked_at=None).exists())
        services.rotate(refresh_token=successors.pop())

    @override_config(REFRESH_REUSE_INTERVAL=0)
    def test_without_a_reuse_interval_parallel_refreshes_let_exactly_one_succeed(self):
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


def serve_with_workers(test: TransactionTestCase, **settings: str) -> str:
    """gunicorn with four worker processes on this test's database, with ``settings`` as
    environment variables, stopped when ``test`` ends; return its URL."""
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
        **settings,
    }
    server, url, listener = start_gunicorn(env, workers=4, log=subprocess.DEVNULL)
    test.addCleanup(listener.close)
    test.addCleanup(server.wait, timeout=30)
    test.addCleanup(server.terminate)
    return url


@pytest.mark.slow
class WorkerProcessThrottleTests(TransactionTestCase):
    """Sixteen simultaneous wrong logins spread over four gunicorn worker processes."""

    def setUp(self):
        make_user()
        self.url = serve_with_workers(
            self, LOGIN_THROTTLE_PER_PAIR="5", LOGIN_THROTTLE_PER_ADDRESS="1000"
        )

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


def from_address(address):
    """The ``extra`` of a request sent from ``address`` (what the server sees as REMOTE_ADDR)."""
    return {"REMOTE_ADDR": address}


class ThrottleRaceTests(TransactionTestCase):
    """Guesses in parallel, from one address and from many: a lock only guesses can trip."""

    def setUp(self):
        make_user()

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=5, per_address=20))
    def test_one_address_flooding_at_its_limit_leaves_the_victims_password_working_elsewhere(
        self,
    ):
        login = reverse("login")
        for round_number in range(3):
            with self.subTest(round=round_number):
                flood = [
                    (
                        login,
                        {"email": "user@example.com", "password": "guess"},
                        from_address("192.0.2.66"),
                    )
                ] * (THREADS * 2 - 1)
                owner = [
                    (
                        login,
                        {"email": "user@example.com", "password": PASSWORD},
                        from_address("198.51.100.7"),
                    )
                ]
                statuses = race(owner + flood)
                self.assertEqual(statuses[0], 200)
                # The flood had its five guesses at most, and the rest checked no password.
                self.assertLessEqual(statuses[1:].count(401), 5)
                self.assertEqual(statuses[1:].count(401) + statuses[1:].count(429), len(flood))
        # Whatever the flood sent, the owner logs in from elsewhere.
        statuses = race(owner)
        self.assertEqual(statuses, [200])

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=5, per_address=20, ceiling=10))
    def test_wrong_guesses_spread_over_many_addresses_check_at_most_the_emails_ceiling(self):
        guesses = [
            (
                reverse("login"),
                {"email": "user@example.com", "password": f"guess-{number}"},
                from_address(f"203.0.113.{number}"),
            )
            for number in range(THREADS * 2)
        ]
        checked = []
        real_check = User.check_password

        def counting_check(user, raw):
            checked.append(raw)
            return real_check(user, raw)

        with mock.patch.object(User, "check_password", counting_check):
            statuses = race(guesses)
        self.assertLessEqual(len(checked), 10)
        self.assertEqual(statuses.count(401), len(checked))
        self.assertEqual(statuses.count(429), len(guesses) - len(checked))


@pytest.mark.slow
@override_settings(LOGIN_THROTTLE=GENEROUS)
class RetryRaceTests(TransactionTestCase):
    """Two clients of one session refreshing at once: both carry on, round after round."""

    def setUp(self):
        make_user()

    def test_two_simultaneous_refreshes_of_one_token_both_carry_on_in_every_round(self):
        pair = services.login(email="user@example.com", password=PASSWORD)
        token = pair.refresh_token
        issued = {token}
        for _ in range(ROUNDS):
            responses = race_responses([(reverse("refresh"), {"refresh_token": token})] * 2)
            self.assertEqual([response.status_code for response in responses], [200, 200])
            successors = {response.json()["refresh_token"] for response in responses}
            self.assertEqual(len(successors), 1)
            token = successors.pop()
            issued.add(token)
        self.assertTrue(Session.objects.filter(revoked_at=None).exists())
        # Nothing stored is a usable token: no column holds any token issued in the run.
        forms = {form for value in issued for form in (value, value.replace("-", ""))}
        for model in (User, Session, RefreshToken):
            for row in model.objects.values():
                for column, value in row.items():
                    text = str(value).lower()
                    self.assertFalse(any(form in text for form in forms), (model, column))


@pytest.mark.slow
@override_settings(LOGIN_THROTTLE=GENEROUS)
class PasswordChangeRaceTests(TransactionTestCase):
    """A password change racing a refresh of its own session: one lock order, no deadlock."""

    def test_a_password_change_against_a_refresh_of_the_same_session_never_deadlocks(self):
        user = make_user()
        outcomes = []
        rng = random.Random(11)
        for number in range(ROUNDS):
            pair = services.login(email="user@example.com", password=PASSWORD)
            new_password = f"another-long-phrase-{number}"
            # The refresh starts at a random moment of the change, so that rounds land it
            # while the change holds the session's lock and is about to replace its token.
            responses = race_responses(
                [
                    (
                        reverse("password"),
                        {"current_password": PASSWORD, "new_password": new_password},
                        {"HTTP_AUTHORIZATION": f"Bearer {pair.access_token}"},
                    ),
                    (reverse("refresh"), {"refresh_token": pair.refresh_token}),
                ],
                delays=[0, rng.uniform(0, 0.02)],
            )
            change, refresh = (response.status_code for response in responses)
            outcomes.append((change, refresh))
            # The change is never lost; the refresh either came first or finds its token gone.
            self.assertEqual(change, 200, responses[0].content)
            self.assertIn(refresh, (200, 401), responses[1].content)
            user.refresh_from_db()
            self.assertTrue(user.check_password(new_password))
            fresh = responses[0].json()["refresh_token"]
            self.assertNotEqual(services.rotate(refresh_token=fresh).refresh_token, fresh)
            User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD))
        self.assertEqual(len(outcomes), ROUNDS)

    def test_a_password_change_against_logging_out_everywhere_never_deadlocks(self):
        user = make_user()
        rng = random.Random(13)
        for number in range(ROUNDS):
            caller = services.login(email="user@example.com", password=PASSWORD)
            other = services.login(email="user@example.com", password=PASSWORD)
            responses = race_responses(
                [
                    (
                        reverse("password"),
                        {"current_password": PASSWORD, "new_password": f"another-phrase-{number}"},
                        {"HTTP_AUTHORIZATION": f"Bearer {caller.access_token}"},
                    ),
                    (
                        reverse("logout-all"),
                        {},
                        {"HTTP_AUTHORIZATION": f"Bearer {other.access_token}"},
                    ),
                ],
                delays=[0, rng.uniform(0, 0.02)],
            )
            statuses = [response.status_code for response in responses]
            # Whichever came first: the change (then the other session's token is refused) or
            # logging out everywhere (then the change finds its session ended). Never a 5xx.
            self.assertIn(statuses, ([200, 401], [401, 200], [200, 200]), statuses)
            User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD))


class HashUpgradeRaceTests(TransactionTestCase):
    def test_two_right_logins_during_a_hash_upgrade_both_start_their_session(self):
        make_user()
        barrier = threading.Barrier(2)
        real_check = User.check_password

        def both_read_the_old_hash(user, raw):
            barrier.wait(timeout=10)
            return real_check(user, raw)

        credentials = {"email": "user@example.com", "password": PASSWORD}
        with (
            mock.patch.object(User, "check_password", both_read_the_old_hash),
            mock.patch.object(MD5PasswordHasher, "must_update", return_value=True),
        ):
            statuses = race([(reverse("login"), credentials)] * 2)
        self.assertEqual(statuses, [200, 200])
        self.assertEqual(Session.objects.filter(revoked_at=None).count(), 2)


@pytest.mark.slow
class WorkerProcessFloodTests(TransactionTestCase):
    """The flood of one address across four gunicorn worker processes, from real sockets bound
    to distinct loopback addresses."""

    def setUp(self):
        make_user()
        self.url = serve_with_workers(
            self, LOGIN_THROTTLE_PER_PAIR="5", LOGIN_THROTTLE_PER_ADDRESS="20"
        )

    def login_from(self, source, password):
        host, port = self.url.removeprefix("http://").split(":")
        client = HTTPConnection(host, int(port), timeout=60, source_address=(source, 0))
        body = json.dumps({"email": "user@example.com", "password": password})
        try:
            client.request("POST", "/api/login/", body, {"Content-Type": "application/json"})
            return client.getresponse().status
        finally:
            client.close()

    def test_an_address_over_its_limit_locks_nobody_out_across_worker_processes(self):
        barrier = threading.Barrier(THREADS * 2)

        def flood(_):
            barrier.wait(timeout=30)
            return self.login_from("127.0.0.66", "wrong-password")

        with ThreadPoolExecutor(THREADS * 2) as pool:
            statuses = list(pool.map(flood, range(THREADS * 2)))
        self.assertLessEqual(statuses.count(401), 5)
        self.assertEqual(statuses.count(401) + statuses.count(429), len(statuses))
        self.assertEqual(self.login_from("127.0.0.66", PASSWORD), 429)
        self.assertEqual(self.login_from("127.0.0.7", PASSWORD), 200)
