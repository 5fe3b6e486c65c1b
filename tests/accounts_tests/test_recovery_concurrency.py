"""Races on the links sent by mail (password reset, e-mail verification, "this wasn't me"), as
their users and an attacker run them: real parallel HTTP requests against four gunicorn worker
processes on this test's database, which mail through the ``file`` backend into a folder of
the test's own.

A token the test needs before a race is minted here with ``recovery.issue`` (as the deferred
senders do, on the same database and the same secret key); every token a request of the race
asked for is read from the mail the server wrote (``devtools.mailbox``).
"""

import contextlib
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from unittest import mock

import pytest
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.db import connection
from django.test import TransactionTestCase
from django.utils import timezone
from rest_framework.test import APITestCase

from app import tasks
from app.accounts import recovery
from app.accounts.models import MailToken, Session, User
from devtools.http import request
from devtools.mailbox import Mailbox, token_in
from tests.accounts_tests.factories import PASSWORD, make_user
from tests.accounts_tests.test_concurrency import THREADS, serve_with_workers

# Each round is a handful of requests; on SQLite, one writer at a time, a few show the same.
ROUNDS = 100 if connection.vendor == "postgresql" else 10
# Rounds of eight requests or more each (about 0.3 s on PostgreSQL), to stay near 15 s.
LONG_ROUNDS = ROUNDS // 2
# Rounds of THREADS simultaneous requests.
CROWD_ROUNDS = 5 if connection.vendor == "postgresql" else 2
EMAIL = "user@example.com"
Purpose = MailToken.Purpose
# No limit in the way of a loop: each limit has tests of its own.
UNTHROTTLED = dict.fromkeys(
    (
        "LOGIN_THROTTLE_PER_PAIR",
        "LOGIN_THROTTLE_PER_ADDRESS",
        "LOGIN_THROTTLE_CEILING",
        "LOGIN_THROTTLE_SUCCESSES",
        "EMAIL_CHANGE_THROTTLE_PER_USER",
        "EMAIL_CHANGE_THROTTLE_PER_ADDRESS",
        "MAIL_THROTTLE_PER_EMAIL",
        "MAIL_THROTTLE_PER_ADDRESS",
        "REGISTER_THROTTLE_PER_ADDRESS",
    ),
    "1000000",
)
CONFIRM = "/api/password/reset/confirm/"
RESET = "/api/password/reset/"
VERIFY = "/api/email/verify/"
REVERT = "/api/email/revert/"
ME = "/api/me/"


@dataclass(frozen=True)
class Pair:
    access_token: str
    refresh_token: str


class LiveRecoveryTestCase(TransactionTestCase):
    """A user (``EMAIL``, ``self.password``), the server (``self.url``) and its mail."""

    def setUp(self):
        self.user = make_user(email=EMAIL)
        self.password = PASSWORD
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.mailbox = Mailbox(folder.name)
        self.url = serve_with_workers(
            self, DJANGO_EMAIL_BACKEND="file", DJANGO_EMAIL_FILE_PATH=folder.name, **UNTHROTTLED
        )

    def post(self, path, body=None, bearer=None):
        """POST ``body`` to ``path`` (PUT for the profile), with ``bearer`` as access token."""
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        method = "PUT" if path == ME else "POST"
        return request(f"{self.url}{path}", method, body if body is not None else {}, headers)

    def race(self, requests, delays=None):
        """Send each ``(path, body)`` or ``(path, body, bearer)`` from its own thread, all
        released at once, each after its delay in seconds; return the answers in order."""
        barrier = threading.Barrier(len(requests))
        delays = delays or [0] * len(requests)

        def one(numbered):
            number, (path, body, *bearer) = numbered
            barrier.wait(timeout=30)
            time.sleep(delays[number])
            return self.post(path, body, *bearer)

        with ThreadPoolExecutor(len(requests)) as pool:
            answers = list(pool.map(one, enumerate(requests)))
        for answer in answers:
            self.assertLess(answer.status, 500, answer.content)
            self.assertNotEqual(answer.status, 0, "no answer")
        return answers

    def login(self, email=EMAIL, password=None):
        answer = self.post("/api/login/", {"email": email, "password": password or self.password})
        self.assertEqual(answer.status, 200, answer.content)
        return Pair(**answer.json())

    def refreshes(self, pair):
        """The status of a refresh with ``pair``'s refresh token."""
        return self.post("/api/refresh/", {"refresh_token": pair.refresh_token}).status

    def mint(self, purpose, email=EMAIL):
        """A token of ``purpose`` for the user, as a deferred sender issues it."""
        user = User.objects.get(pk=self.user.pk)
        return recovery.issue(user=user, purpose=purpose, email=email, now=timezone.now())

    def assertCode(self, answer, status, code):
        self.assertEqual((answer.status, answer.json().get("code")), (status, code), answer.content)

    def assertPassword(self, password):
        """The user's password is ``password`` (and so no other)."""
        self.user.refresh_from_db()
        self.assertTrue(self.user.check_password(password), password)


@pytest.mark.slow
class ResetConfirmRaceTests(LiveRecoveryTestCase):
    def test_sixteen_simultaneous_confirms_of_one_token_let_exactly_one_set_the_password(self):
        for round_number in range(CROWD_ROUNDS):
            with self.subTest(round=round_number):
                before = self.login()
                token = self.mint(Purpose.RESET)
                passwords = [f"reset-phrase-{round_number}-{n}" for n in range(THREADS)]
                answers = self.race(
                    [(CONFIRM, {"token": token, "new_password": new}) for new in passwords]
                )
                statuses = [answer.status for answer in answers]
                self.assertEqual(sorted(statuses), [200] + [400] * (THREADS - 1))
                winner = statuses.index(200)
                for answer in answers[:winner] + answers[winner + 1 :]:
                    self.assertCode(answer, 400, "invalid_reset_token")
                # The winner's password, and only the winner's session lives.
                self.assertPassword(passwords[winner])
                for number, other in enumerate(passwords):
                    if number != winner:
                        self.assertFalse(self.user.check_password(other), other)
                self.assertEqual(self.refreshes(before), 401)
                self.assertEqual(self.refreshes(Pair(**answers[winner].json())), 200)
                self.assertEqual(Session.objects.filter(revoked_at=None).count(), 1)
                self.password = passwords[winner]

    def test_a_confirm_racing_a_newer_reset_request_leaves_the_old_token_dead_either_way(self):
        """The newer request voids the older token when its task runs: whichever comes first,
        the old token works at most once, and the newer link works."""
        rng = random.Random(17)
        outcomes = Counter()
        for round_number in range(ROUNDS):
            old = self.mint(Purpose.RESET)
            new_password = f"confirm-phrase-{round_number}"
            confirm, reset = self.race(
                [
                    (CONFIRM, {"token": old, "new_password": new_password}),
                    (RESET, {"email": EMAIL}),
                ],
                delays=[rng.uniform(0, 0.01), rng.uniform(0, 0.01)],
            )
            self.assertEqual(reset.status, 202, reset.content)
            self.assertIn(confirm.status, (200, 400), confirm.content)
            outcomes[confirm.status] += 1
            if confirm.status == 200:
                self.password = new_password
            else:
                self.assertCode(confirm, 400, "invalid_reset_token")
            again = self.post(CONFIRM, {"token": old, "new_password": f"again-{round_number}-x"})
            self.assertCode(again, 400, "invalid_reset_token")
            self.assertPassword(self.password)
            # The newer request's link works: it was issued on the password as it then was.
            newer = self.mailbox.take_one(to=EMAIL, kind="password_reset")
            new_password = f"newer-phrase-{round_number}"
            answer = self.post(CONFIRM, {"token": newer.token, "new_password": new_password})
            self.assertEqual(answer.status, 200, (round_number, answer.content))
            self.password = new_password
        self.assertEqual(sum(outcomes.values()), ROUNDS)
        print(f"confirm against a newer request: {dict(outcomes)}")

    def test_a_confirm_racing_a_password_change_never_lets_both_win_and_the_token_dies(self):
        rng = random.Random(19)
        outcomes = Counter()
        for round_number in range(ROUNDS):
            pair = self.login()
            token = self.mint(Purpose.RESET)
            changed, reset = f"changed-phrase-{round_number}", f"reset-phrase-{round_number}"
            change, confirm = self.race(
                [
                    (
                        "/api/me/password/",
                        {"current_password": self.password, "new_password": changed},
                        pair.access_token,
                    ),
                    (CONFIRM, {"token": token, "new_password": reset}),
                ],
                delays=[rng.uniform(0, 0.01), rng.uniform(0, 0.01)],
            )
            statuses = (change.status, confirm.status)
            outcomes[statuses] += 1
            # One of them, never both: the change (the token, bound to the old password, is
            # refused) or the reset (the change then finds its session ended, or the password
            # it was given no longer the current one).
            self.assertIn(
                statuses, [(200, 400), (401, 200), (400, 200)], (change.content, confirm.content)
            )
            if change.status == 400:
                self.assertEqual(
                    change.json()["fields"]["current_password"][0]["code"], "wrong_password"
                )
            winner = change if change.status == 200 else confirm
            if confirm.status == 400:
                self.assertCode(confirm, 400, "invalid_reset_token")
            self.password = changed if change.status == 200 else reset
            self.assertPassword(self.password)
            again = self.post(CONFIRM, {"token": token, "new_password": f"again-{round_number}-x"})
            self.assertCode(again, 400, "invalid_reset_token")
            self.assertEqual(self.refreshes(Pair(**winner.json())), 200)
        print(f"password change against a confirm (change, confirm): {dict(outcomes)}")

    def test_logins_on_the_old_password_racing_a_confirm_keep_no_session_and_never_deadlock(self):
        """The confirm ends every session and lifts the address's failed-login lock inside its
        transaction, while right and wrong passwords for that address are being counted."""
        for round_number in range(CROWD_ROUNDS):
            with self.subTest(round=round_number):
                token = self.mint(Purpose.RESET)
                new_password = f"confirmed-phrase-{round_number}"
                right = {"email": EMAIL, "password": self.password}
                wrong = {"email": EMAIL, "password": "not-the-password"}
                half = (THREADS - 1) // 2
                answers = self.race(
                    [(CONFIRM, {"token": token, "new_password": new_password})]
                    + [("/api/login/", right)] * (THREADS - 1 - half)
                    + [("/api/login/", wrong)] * half
                )
                self.assertEqual(answers[0].status, 200, answers[0].content)
                for answer in answers[1:]:
                    self.assertIn(answer.status, (200, 401), answer.content)
                # A login that came first had its session ended; one that came after started
                # none: only the confirm's session lives.
                self.assertEqual(Session.objects.filter(revoked_at=None).count(), 1)
                self.assertEqual(self.refreshes(Pair(**answers[0].json())), 200)
                self.password = new_password

    def test_two_simultaneous_reset_requests_leave_exactly_one_usable_link(self):
        for round_number in range(ROUNDS // 5):
            with self.subTest(round=round_number):
                answers = self.race([(RESET, {"email": EMAIL})] * 2)
                self.assertEqual([answer.status for answer in answers], [202, 202])
                mailed = self.mailbox.take(to=EMAIL)
                self.assertEqual([mail.kind for mail in mailed], ["password_reset"] * 2)
                usable = MailToken.objects.usable(timezone.now()).filter(purpose=Purpose.RESET)
                self.assertEqual(usable.count(), 1)


@pytest.mark.slow
class VerificationRaceTests(LiveRecoveryTestCase):
    def test_sixteen_simultaneous_verifications_of_one_token_let_exactly_one_succeed(self):
        for round_number in range(CROWD_ROUNDS):
            with self.subTest(round=round_number):
                User.objects.filter(pk=self.user.pk).update(email_verified_at=None)
                token = self.mint(Purpose.VERIFY)
                answers = self.race([(VERIFY, {"token": token})] * THREADS)
                statuses = [answer.status for answer in answers]
                self.assertEqual(sorted(statuses), [200] + [400] * (THREADS - 1))
                for answer in answers:
                    if answer.status == 400:
                        self.assertCode(answer, 400, "invalid_verification_token")
                status = request(
                    f"{self.url}/api/me/email/",
                    headers={"Authorization": f"Bearer {self.login().access_token}"},
                )
                self.assertEqual(status.json()["email_verified"], True)

    def test_a_verification_racing_an_email_change_never_verifies_the_new_address(self):
        rng = random.Random(23)
        outcomes = Counter()
        for round_number in range(ROUNDS):
            old, new = f"old-{round_number}@example.com", f"new-{round_number}@example.com"
            User.objects.filter(pk=self.user.pk).update(email=old, email_verified_at=None)
            token = self.mint(Purpose.VERIFY, email=old)
            pair = self.login(email=old)
            change, verify = self.race(
                [(ME, {"email": new}, pair.access_token), (VERIFY, {"token": token})],
                delays=[rng.uniform(0, 0.01), rng.uniform(0, 0.01)],
            )
            outcomes[verify.status] += 1
            self.assertEqual(change.status, 200, change.content)
            self.assertIn(verify.status, (200, 400), verify.content)
            self.user.refresh_from_db()
            self.assertEqual(self.user.email, new)
            # The new address is verified by its own link only.
            self.assertIsNone(self.user.email_verified_at, (round_number, verify.content))
            self.mailbox.take()
        print(f"verification against an e-mail change: {dict(outcomes)}")


@pytest.mark.slow
class RevertRaceTests(LiveRecoveryTestCase):
    def moved(self, round_number):
        return f"moved-{round_number}@example.net"

    def test_sixteen_simultaneous_reverts_of_one_token_let_exactly_one_succeed_and_mail_once(self):
        for round_number in range(CROWD_ROUNDS):
            with self.subTest(round=round_number):
                User.objects.filter(pk=self.user.pk).update(email=self.moved(round_number))
                pair = self.login(email=self.moved(round_number))
                token = self.mint(Purpose.REVERT, email=EMAIL)
                answers = self.race([(REVERT, {"token": token})] * THREADS)
                statuses = [answer.status for answer in answers]
                self.assertEqual(sorted(statuses), [200] + [400] * (THREADS - 1))
                for answer in answers:
                    if answer.status == 400:
                        self.assertCode(answer, 400, "invalid_revert_token")
                self.user.refresh_from_db()
                self.assertEqual(self.user.email, EMAIL)
                self.assertEqual(self.refreshes(pair), 401)
                # One reset link for the old address, not one per request; and it works.
                reset = self.mailbox.take_one(to=EMAIL, kind="password_reset")
                self.password = f"after-revert-{round_number}"
                answer = self.post(CONFIRM, {"token": reset.token, "new_password": self.password})
                self.assertEqual(answer.status, 200, answer.content)

    def test_a_confirm_racing_the_revert_leaves_whoever_changed_the_address_nothing(self):
        """Whoever took the session moved the e-mail to their address and had a reset link sent
        there; they confirm it while the owner reverts. Either way, afterwards they hold no
        session, their password logs in nowhere and their link is dead."""
        rng = random.Random(37)
        outcomes = Counter()
        for round_number in range(LONG_ROUNDS):
            theirs = f"theirs-{round_number}@example.net"
            pair = self.login()
            answer = self.post(ME, {"email": theirs}, pair.access_token)
            self.assertEqual(answer.status, 200, answer.content)
            notice = self.mailbox.take_one(to=EMAIL, kind="email_changed")
            self.mailbox.take()
            their_link = self.mint(Purpose.RESET, email=theirs)
            their_password = f"their-phrase-{round_number}"
            confirm, revert = self.race(
                [
                    (CONFIRM, {"token": their_link, "new_password": their_password}),
                    (REVERT, {"token": notice.token}),
                ],
                delays=[rng.uniform(0, 0.01), rng.uniform(0, 0.01)],
            )
            outcomes[confirm.status] += 1
            self.assertEqual(revert.status, 200, revert.content)
            self.assertIn(confirm.status, (200, 400), confirm.content)
            if confirm.status == 200:
                self.assertEqual(self.refreshes(Pair(**confirm.json())), 401)
            self.assertFalse(Session.objects.filter(revoked_at=None).exists())
            for email in (EMAIL, theirs):
                answer = self.post("/api/login/", {"email": email, "password": their_password})
                self.assertEqual(answer.status, 401, answer.content)
            again = self.post(
                CONFIRM, {"token": their_link, "new_password": f"again-{round_number}-x"}
            )
            self.assertCode(again, 400, "invalid_reset_token")
            # The owner's link, mailed by the revert, works: the next round's password.
            reset = self.mailbox.take_one(to=EMAIL, kind="password_reset")
            self.password = f"owner-phrase-{round_number}"
            answer = self.post(CONFIRM, {"token": reset.token, "new_password": self.password})
            self.assertEqual(answer.status, 200, answer.content)
        print(f"their confirm against the owner's revert: {dict(outcomes)}")

    def test_a_revert_racing_a_further_email_change_leaves_no_way_back_to_the_changed_address(
        self,
    ):
        """Whoever took the session moved the e-mail to ``first``; the owner reverts while they
        move it on to ``second``. Afterwards the account is the owner's again, and no link the
        round mailed to ``first`` (the notice of the second change) gives it back to them."""
        rng = random.Random(29)
        escapes, outcomes = [], Counter()
        for round_number in range(ROUNDS):
            first, second = (
                f"first-{round_number}@example.net",
                f"second-{round_number}@example.net",
            )
            pair = self.login()
            answer = self.post(ME, {"email": first}, pair.access_token)
            self.assertEqual(answer.status, 200, answer.content)
            notice = self.mailbox.take_one(to=EMAIL, kind="email_changed")
            self.mailbox.take()
            change, revert = self.race(
                [
                    (ME, {"email": second}, pair.access_token),
                    (REVERT, {"token": notice.token}),
                ],
                delays=[rng.uniform(0, 0.01), rng.uniform(0, 0.01)],
            )
            outcomes[change.status] += 1
            self.assertEqual(revert.status, 200, revert.content)
            self.assertIn(change.status, (200, 401), change.content)
            self.user.refresh_from_db()
            self.assertEqual(self.user.email, EMAIL)
            for message in self.mailbox.take(to=first):
                if message.kind == "email_changed":
                    answer = self.post(REVERT, {"token": message.token})
                    if answer.status != 400:
                        escapes.append((round_number, answer.status))
            # The owner's reset link, for the next round (and the account back, if it left).
            User.objects.filter(pk=self.user.pk).update(email=EMAIL)
            self.password = f"after-revert-{round_number}"
            self.user.set_password(self.password)
            User.objects.filter(pk=self.user.pk).update(password=self.user.password)
            self.mailbox.take()
        print(f"further change against a revert (change status): {dict(outcomes)}")
        self.assertEqual(escapes, [], "a notice mailed after the revert gave the account back")

    def test_a_registration_racing_an_email_change_never_takes_the_old_address_from_its_owner(
        self,
    ):
        """While the old address's revert link works, nobody else may have that address: a
        registration of it racing the change must not slip in before the link exists."""
        rng = random.Random(31)
        taken, outcomes = [], Counter()
        for round_number in range(LONG_ROUNDS):
            owner = f"owner-{round_number}@example.com"
            User.objects.filter(pk=self.user.pk).update(email=owner)
            pair = self.login(email=owner)
            change, register = self.race(
                [
                    (ME, {"email": f"away-{round_number}@example.net"}, pair.access_token),
                    ("/api/register/", {"email": owner, "password": PASSWORD}),
                ],
                delays=[rng.uniform(0, 0.01), rng.uniform(0, 0.01)],
            )
            outcomes[(change.status, register.status)] += 1
            self.assertEqual(change.status, 200, change.content)
            self.assertIn(register.status, (201, 400), register.content)
            (notice,) = [m for m in self.mailbox.take(to=owner) if m.kind == "email_changed"]
            revert = self.post(REVERT, {"token": notice.token})
            if register.status != 400 or revert.status != 200:
                taken.append((round_number, register.status, revert.status))
            User.objects.filter(pk=self.user.pk).update(password=make_password(PASSWORD))
            self.mailbox.take()
        print(f"change against a registration (change, register): {dict(outcomes)}")
        self.assertEqual(taken, [], "(round, registration, revert): the address was taken")


class HeldBackTaskTests(APITestCase):
    """The orders the two revert races above land on, made certain: the e-mail change's
    deferred tasks are held back until another request is done, as on Lambda, where they run
    in an asynchronous invocation queued after the response."""

    def setUp(self):
        make_user(email=EMAIL, email_verified_at=timezone.now())
        answer = self.client.post(
            "/api/login/", {"email": EMAIL, "password": PASSWORD}, format="json"
        )
        self.bearer = {"HTTP_AUTHORIZATION": f"Bearer {answer.json()['access_token']}"}

    def change_email(self, email):
        answer = self.client.put(ME, {"email": email}, format="json", **self.bearer)
        self.assertEqual(answer.status_code, 200, answer.content)

    @contextlib.contextmanager
    def tasks_held_back(self, *, reverse=False):
        """Inside, deferred tasks are queued; they run when the block ends (the last queued
        first, with ``reverse``: asynchronous invocations keep no order)."""
        queued = []

        def queue(task, **kwargs):
            queued.append((task, kwargs))

        with mock.patch.object(tasks, "defer", queue):
            yield
        for task, kwargs in reversed(queued) if reverse else queued:
            task(**kwargs)

    def all_mailed(self, to, subject_part):
        return [m for m in mail.outbox if m.to == [to] and subject_part in m.subject]

    def mailed(self, to, subject_part):
        """The token of the one message to ``to`` whose subject has ``subject_part``."""
        (message,) = self.all_mailed(to, subject_part)
        return token_in(message.body)

    def test_a_notice_sent_after_the_revert_gives_the_changed_address_no_way_back(self):
        self.change_email("first@example.net")
        first_notice = self.mailed(EMAIL, "changed")
        with self.tasks_held_back():
            self.change_email("second@example.net")
            answer = self.client.post(REVERT, {"token": first_notice}, format="json")
            self.assertEqual(answer.status_code, 200, answer.content)
        # The second change's notice, run after the revert, to the address that revert undid:
        # none, or one whose link is dead.
        for message in self.all_mailed("first@example.net", "changed"):
            answer = self.client.post(REVERT, {"token": token_in(message.body)}, format="json")
            self.assertEqual(answer.status_code, 400, "the revert handed the account back")
        self.assertEqual(User.objects.get().email, EMAIL)

    def test_the_old_address_cannot_be_registered_before_its_notice_is_sent(self):
        with self.tasks_held_back():
            self.change_email("away@example.net")
            answer = self.client.post(
                "/api/register/", {"email": EMAIL, "password": PASSWORD}, format="json"
            )
            self.assertEqual(answer.status_code, 400, "the old address was free for the taking")
        answer = self.client.post(REVERT, {"token": self.mailed(EMAIL, "changed")}, format="json")
        self.assertEqual(answer.status_code, 200, answer.content)

    def test_notices_sent_out_of_order_leave_no_later_change_a_way_back_after_the_revert(self):
        with self.tasks_held_back(reverse=True):
            self.change_email("first@example.net")
            self.change_email("second@example.net")
        # The first change's notice went out last; the owner reverts with it.
        answer = self.client.post(REVERT, {"token": self.mailed(EMAIL, "changed")}, format="json")
        self.assertEqual(answer.status_code, 200, answer.content)
        for message in self.all_mailed("first@example.net", "changed"):
            answer = self.client.post(REVERT, {"token": token_in(message.body)}, format="json")
            self.assertEqual(
                answer.status_code, 400, "the later change's link handed the account back"
            )
        self.assertEqual(User.objects.get().email, EMAIL)
