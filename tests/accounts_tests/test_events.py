"""Security events (``app.accounts.events``): what each change records, once, in its own
transaction, with the client that caused it and nothing secret; and their log lines."""

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from datetime import timedelta

from constance.test import override_config
from django.core import mail
from django.db import connection, transaction
from django.test import TransactionTestCase, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from app import metrics
from app.accounts import events, services, sql, tokens
from app.accounts.events import Name, Reason
from app.accounts.models import RefreshToken, SecurityEvent, Session, User
from tests.accounts_tests.factories import PASSWORD, login_throttle, make_user
from tests.accounts_tests.test_views import ApiTestCase, mailed_token, messages_to
from tests.app_tests.test_metrics import assert_valid_emf

CLIENT = {"REMOTE_ADDR": "198.51.100.7", "HTTP_USER_AGENT": "Tester/1.0"}


def session_of(pair: dict) -> Session:
    return Session.objects.get(tokens__digest=tokens.refresh_token_digest(pair["refresh_token"]))


def ends_of(session: Session) -> list[str]:
    """The reasons of the ``session_expired`` events of ``session``."""
    return list(
        SecurityEvent.objects.filter(name=Name.SESSION_EXPIRED, session_id=session.pk).values_list(
            "reason", flat=True
        )
    )


def names(**filters) -> list[str]:
    """Event names, oldest first."""
    return list(
        SecurityEvent.objects.filter(**filters).order_by("id").values_list("name", flat=True)
    )


class EventTestCase(ApiTestCase):
    def setUp(self):
        self.user = make_user(email_verified_at=timezone.now())

    def post(self, name, body, **extra):
        return super().post(name, body, **{**CLIENT, **extra})

    def refresh(self, pair: dict):
        return self.post("refresh", {"refresh_token": pair["refresh_token"]})

    def bearer(self, pair: dict) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {pair['access_token']}", **CLIENT}


class SessionEndTests(EventTestCase):
    """Every way a session ends records exactly one ``session_expired`` naming how."""

    def test_each_way_a_session_ends_records_one_event_with_its_reason(self):
        ways = {
            Reason.LOGOUT: self.log_out,
            Reason.LOGOUT_EVERYWHERE: self.log_out_everywhere,
            Reason.ENDED_BY_USER: self.end_from_the_list,
            Reason.PASSWORD_CHANGE: self.change_the_password_elsewhere,
            Reason.PASSWORD_RESET: self.reset_the_password,
            Reason.EMAIL_REVERT: self.revert_an_email_change,
            Reason.ADMIN: self.end_in_the_admin,
            Reason.DEACTIVATED: self.deactivate,
            Reason.REUSE: self.reuse_a_token,
            Reason.SESSION_CAP: self.log_in_past_the_cap,
            Reason.EXPIRED: self.let_it_expire,
        }
        for reason, end in ways.items():
            with self.subTest(reason):
                SecurityEvent.objects.all().delete()
                Session.objects.all().delete()
                pair = self.login()
                session = session_of(pair)
                end(pair)
                self.assertFalse(Session.objects.live(timezone.now()).filter(pk=session.pk))
                self.assertEqual(ends_of(session), [reason])

    def test_ending_a_session_twice_records_it_once(self):
        pair = self.login()
        self.post("logout", {"refresh_token": pair["refresh_token"]})
        self.post("logout", {"refresh_token": pair["refresh_token"]})
        services.end_user_sessions(user_id=self.user.pk)
        self.assertEqual(ends_of(session_of(pair)), [Reason.LOGOUT])

    def test_the_event_carries_the_client_that_ended_the_session(self):
        pair = self.login()
        self.post("logout", {"refresh_token": pair["refresh_token"]})
        ended = SecurityEvent.objects.get(name=Name.SESSION_EXPIRED)
        self.assertEqual(ended.user_id, self.user.pk)
        self.assertEqual((ended.address, ended.user_agent), ("198.51.100.7", "Tester/1.0"))

    def test_a_password_set_in_the_admin_ends_the_session_at_its_next_refresh_once(self):
        pair = self.login()
        self.user.set_password("an0ther-Passw0rd!")
        self.user.save()
        self.assertEqual(self.refresh(pair).status_code, 401)
        self.assertEqual(self.refresh(pair).status_code, 401)
        self.assertEqual(ends_of(session_of(pair)), [Reason.PASSWORD_CHANGE])

    # The ways, each from a fresh login's pair.

    def log_out(self, pair):
        self.post("logout", {"refresh_token": pair["refresh_token"]})

    def log_out_everywhere(self, pair):
        self.client.post(reverse("logout-all"), **self.bearer(pair))

    def end_from_the_list(self, pair):
        other = self.login()
        session = session_of(pair)
        response = self.client.delete(reverse("session", args=[session.pk]), **self.bearer(other))
        self.assertEqual(response.status_code, 204)

    def change_the_password_elsewhere(self, pair):
        other = self.login()
        response = self.client.post(
            reverse("password"),
            {"current_password": PASSWORD, "new_password": "an0ther-Passw0rd!"},
            format="json",
            **self.bearer(other),
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.user.set_password(PASSWORD)
        self.user.save()

    def reset_the_password(self, pair):
        mail.outbox.clear()
        self.post("password-reset", {"email": "user@example.com"})
        token = mailed_token(messages_to("user@example.com")[-1], "/password/reset/")
        response = self.post(
            "password-reset-confirm", {"token": token, "new_password": "an0ther-Passw0rd!"}
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.user.set_password(PASSWORD)
        self.user.save()

    def revert_an_email_change(self, pair):
        mail.outbox.clear()
        response = self.client.put(
            reverse("me"), {"email": "new@example.com"}, format="json", **self.bearer(pair)
        )
        self.assertEqual(response.status_code, 200, response.content)
        token = mailed_token(messages_to("user@example.com")[0], "/email/revert/")
        self.assertEqual(self.post("email-revert", {"token": token}).status_code, 200)
        self.user.refresh_from_db()
        self.user.set_password(PASSWORD)
        self.user.save()

    def end_in_the_admin(self, pair):
        admin, _ = User.objects.get_or_create(
            email="admin@example.com", defaults={"is_staff": True, "is_superuser": True}
        )
        self.client.force_login(admin)
        response = self.client.post(
            reverse("admin:accounts_session_changelist"),
            {"action": "end_sessions", "_selected_action": [session_of(pair).pk]},
            **CLIENT,
        )
        self.assertEqual(response.status_code, 302)
        self.client.logout()

    def deactivate(self, pair):
        self.user.is_active = False
        self.user.save()
        self.user.is_active = True
        self.user.save()

    def reuse_a_token(self, pair):
        with override_config(REFRESH_REUSE_INTERVAL=0):
            self.assertEqual(self.refresh(pair).status_code, 200)
            self.assertEqual(self.refresh(pair).status_code, 401)

    def log_in_past_the_cap(self, pair):
        with override_settings(SESSIONS_PER_USER=1):
            self.login()

    def let_it_expire(self, pair):
        services.purge(now=timezone.now() + timedelta(days=400))


class LoginEventTests(EventTestCase):
    def test_a_login_records_its_success_and_its_new_session_with_the_client(self):
        pair = self.login_from_client()
        session = session_of(pair)
        rows = SecurityEvent.objects.filter(session_id=session.pk).order_by("id")
        self.assertEqual([row.name for row in rows], [Name.LOGIN_SUCCESS, Name.SESSION_CREATED])
        for row in rows:
            self.assertEqual(row.user_id, self.user.pk)
            self.assertEqual((row.address, row.user_agent), ("198.51.100.7", "Tester/1.0"))

    def test_a_refresh_records_nothing(self):
        pair = self.login_from_client()
        before = SecurityEvent.objects.count()
        self.assertEqual(self.refresh(pair).status_code, 200)
        self.assertEqual(SecurityEvent.objects.count(), before)

    def test_each_failed_login_records_why_and_whose(self):
        make_user(email="off@example.com", is_active=False)
        cases = [
            ("user@example.com", "wrong-password", Reason.WRONG_PASSWORD, "user@example.com"),
            ("off@example.com", PASSWORD, Reason.INACTIVE, "off@example.com"),
            ("nobody@example.com", PASSWORD, Reason.UNKNOWN_ACCOUNT, "nobody@example.com"),
            # Not an e-mail, so perhaps a password typed in the wrong field: not kept.
            ("hunter2-secret", PASSWORD, Reason.UNKNOWN_ACCOUNT, ""),
        ]
        for email, password, reason, kept in cases:
            with self.subTest(reason=reason, email=email):
                SecurityEvent.objects.all().delete()
                response = self.post("login", {"email": email, "password": password})
                self.assertEqual(response.status_code, 401)
                failed = SecurityEvent.objects.get()
                self.assertEqual((failed.name, failed.reason), (Name.LOGIN_FAIL, reason))
                self.assertEqual(failed.email, kept)
                owner = User.objects.filter(email=email).first()
                self.assertEqual(failed.user_id, owner.pk if owner else None)

    @override_settings(REQUIRE_VERIFIED_EMAIL=True)
    def test_a_right_password_on_an_unverified_address_records_a_failure_and_no_session(self):
        make_user(email="new@example.com")
        response = self.post("login", {"email": "new@example.com", "password": PASSWORD})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(
            list(SecurityEvent.objects.values_list("name", "reason")),
            [(Name.LOGIN_FAIL, Reason.EMAIL_NOT_VERIFIED)],
        )

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=3, per_address=100, ceiling=100))
    def test_the_failure_that_uses_up_the_pair_limit_records_authn_login_fail_max(self):
        for _ in range(3):
            self.post("login", {"email": "user@example.com", "password": "wrong-password"})
        self.assertEqual(
            names(), [Name.LOGIN_FAIL, Name.LOGIN_FAIL, Name.LOGIN_FAIL, Name.LOGIN_FAIL_MAX]
        )
        self.assertEqual(SecurityEvent.objects.get(name=Name.LOGIN_FAIL_MAX).user_id, self.user.pk)

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=100, per_address=100, ceiling=4))
    def test_the_failure_that_uses_up_the_emails_ceiling_locks_it_and_says_so(self):
        for number in range(4):
            extra = {"REMOTE_ADDR": f"198.51.100.{number + 10}"}
            self.post("login", {"email": "user@example.com", "password": "wrong"}, **extra)
        lock = SecurityEvent.objects.get(name=Name.LOGIN_LOCK)
        self.assertEqual((lock.reason, lock.user_id), (Reason.MAX_RETRIES, self.user.pk))
        self.assertEqual(lock.address, "198.51.100.13")
        response = self.post("login", {"email": "user@example.com", "password": PASSWORD})
        self.assertEqual(response.status_code, 429)

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=2, per_address=100, ceiling=100))
    def test_a_throttle_records_its_first_refusal_of_the_window_only(self):
        for _ in range(2):
            self.post("login", {"email": "user@example.com", "password": "wrong"})
        for _ in range(5):
            response = self.post("login", {"email": "user@example.com", "password": PASSWORD})
            self.assertEqual(response.status_code, 429)
        exceeded = SecurityEvent.objects.get(name=Name.RATE_LIMIT_EXCEEDED)
        self.assertEqual(exceeded.reason, "login-pair")
        self.assertEqual(exceeded.email, "user@example.com")
        self.assertEqual(exceeded.address, "198.51.100.7")

    def login_from_client(self):
        response = self.post("login", {"email": "user@example.com", "password": PASSWORD})
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()


class ReuseEventTests(EventTestCase):
    @override_config(REFRESH_REUSE_INTERVAL=0)
    def test_a_reused_token_records_authn_token_reuse_once_with_the_presenters_address(self):
        pair = self.login()
        self.refresh(pair)
        self.refresh(pair, REMOTE_ADDR="203.0.113.66")
        self.refresh(pair, REMOTE_ADDR="203.0.113.66")
        reuse = SecurityEvent.objects.get(name=Name.TOKEN_REUSE)
        self.assertEqual(reuse.session_id, session_of(pair).pk)
        self.assertEqual((reuse.user_id, reuse.address), (self.user.pk, "203.0.113.66"))

    def test_a_retry_within_the_reuse_interval_records_nothing(self):
        pair = self.login()
        self.refresh(pair)
        self.refresh(pair)
        self.assertFalse(SecurityEvent.objects.filter(name=Name.TOKEN_REUSE).exists())
        self.assertFalse(SecurityEvent.objects.filter(name=Name.SESSION_EXPIRED).exists())

    def refresh(self, pair, **extra):
        return self.post("refresh", {"refresh_token": pair["refresh_token"]}, **extra)


class AccountEventTests(EventTestCase):
    def test_a_registration_records_user_created(self):
        self.post("register", {"email": "new@example.com", "password": PASSWORD})
        created = SecurityEvent.objects.get(name=Name.USER_CREATED)
        self.assertEqual(created.user, User.objects.get(email="new@example.com"))

    def test_a_password_change_records_authn_password_change_for_the_callers_session(self):
        pair = self.login()
        pair = self.client.post(
            reverse("password"),
            {"current_password": PASSWORD, "new_password": "an0ther-Passw0rd!"},
            format="json",
            **self.bearer(pair),
        ).json()
        change = SecurityEvent.objects.get(name=Name.PASSWORD_CHANGE)
        self.assertEqual((change.user_id, change.session_id), (self.user.pk, session_of(pair).pk))

    def test_a_reset_records_its_request_for_an_account_and_nothing_for_no_account(self):
        self.post("password-reset", {"email": "nobody@example.com"})
        self.assertFalse(SecurityEvent.objects.exists())
        self.post("password-reset", {"email": "user@example.com"})
        asked = SecurityEvent.objects.get()
        self.assertEqual((asked.name, asked.user_id), (Name.PASSWORD_RESET_REQUESTED, self.user.pk))
        self.assertEqual((asked.address, asked.user_agent), ("198.51.100.7", "Tester/1.0"))

    def test_a_completed_reset_records_it_and_the_session_it_starts(self):
        self.post("password-reset", {"email": "user@example.com"})
        token = mailed_token(messages_to("user@example.com")[-1], "/password/reset/")
        pair = self.post(
            "password-reset-confirm", {"token": token, "new_password": "an0ther-Passw0rd!"}
        ).json()
        self.assertEqual(
            names(session_id=session_of(pair).pk),
            [Name.PASSWORD_RESET_COMPLETED, Name.SESSION_CREATED],
        )

    def test_an_email_change_its_verification_and_its_revert_are_each_recorded(self):
        pair = self.login()
        mail.outbox.clear()
        self.client.put(
            reverse("me"), {"email": "new@example.com"}, format="json", **self.bearer(pair)
        )
        changed = SecurityEvent.objects.get(name=Name.EMAIL_CHANGED)
        self.assertEqual((changed.reason, changed.email), (Reason.IMMEDIATE, "new@example.com"))
        verify = mailed_token(messages_to("new@example.com")[0], "/email/verify/")
        revert = mailed_token(messages_to("user@example.com")[0], "/email/revert/")
        self.post("email-verify", {"token": verify})
        self.assertEqual(
            SecurityEvent.objects.get(name=Name.EMAIL_VERIFIED).email, "new@example.com"
        )
        self.post("email-revert", {"token": revert})
        reverted = SecurityEvent.objects.get(name=Name.EMAIL_CHANGE_REVERTED)
        self.assertEqual((reverted.user_id, reverted.email), (self.user.pk, "user@example.com"))

    @override_settings(EMAIL_CHANGE_POLICY="confirm")
    def test_a_confirmed_change_is_recorded_when_its_address_is_verified(self):
        pair = self.login()
        mail.outbox.clear()
        self.client.put(
            reverse("me"), {"email": "new@example.com"}, format="json", **self.bearer(pair)
        )
        self.assertFalse(SecurityEvent.objects.filter(name=Name.EMAIL_CHANGED).exists())
        self.post("email-verify", {"token": mailed_token(mail.outbox[0], "/email/verify/")})
        changed = SecurityEvent.objects.get(name=Name.EMAIL_CHANGED)
        self.assertEqual((changed.reason, changed.email), (Reason.CONFIRMED, "new@example.com"))

    def test_no_event_holds_a_password_a_token_or_a_digest(self):
        pair = self.login()
        secrets = {PASSWORD, "an0ther-Passw0rd!", pair["access_token"], pair["refresh_token"]}
        secrets.add(tokens.refresh_token_digest(pair["refresh_token"]))
        self.post("login", {"email": "user@example.com", "password": "wrong-Passw0rd!"})
        secrets.add("wrong-Passw0rd!")
        self.post("login", {"email": PASSWORD, "password": PASSWORD})
        successor = self.refresh(pair).json()
        secrets |= {successor["access_token"], successor["refresh_token"]}
        with override_config(REFRESH_REUSE_INTERVAL=0):
            self.refresh(pair)
        self.post("password-reset", {"email": "user@example.com"})
        reset = mailed_token(messages_to("user@example.com")[-1], "/password/reset/")
        secrets.add(reset)
        self.post("password-reset-confirm", {"token": reset, "new_password": "an0ther-Passw0rd!"})
        self.assertGreater(SecurityEvent.objects.count(), 5)
        for row in SecurityEvent.objects.values():
            for value in row.values():
                for secret in secrets:
                    self.assertNotIn(secret, str(value))


class EventLogTests(EventTestCase):
    def test_each_event_is_a_log_line_with_its_account_session_and_address(self):
        with self.assertLogs("app.security", "INFO") as logs:
            with self.captureOnCommitCallbacks(execute=True):
                pair = self.login()
        session = session_of(pair)
        self.assertEqual(
            [record.getMessage() for record in logs.records],
            ["authn_login_success", "session_created"],
        )
        for record in logs.records:
            self.assertEqual(record.user_id, self.user.pk)
            self.assertEqual(record.session_id, str(session.pk))
            self.assertEqual(record.event, record.getMessage())
            self.assertFalse(hasattr(record, "email"))

    def test_a_reason_is_in_the_line_and_its_field(self):
        pair = self.login()
        with self.assertLogs("app.security", "INFO") as logs:
            with self.captureOnCommitCallbacks(execute=True):
                self.post("logout", {"refresh_token": pair["refresh_token"]})
        (record,) = logs.records
        self.assertEqual(record.getMessage(), "session_expired (logout)")
        self.assertEqual((record.reason, record.client_address), ("logout", "198.51.100.7"))

    def test_an_event_of_a_change_rolled_back_is_neither_kept_nor_logged(self):
        with self.assertNoLogs("app.security", "INFO"):
            try:
                with transaction.atomic():
                    events.record([events.event(Name.USER_CREATED, now=timezone.now())])
                    raise RuntimeError("the change failed")
            except RuntimeError:
                pass
        self.assertFalse(SecurityEvent.objects.exists())


class RetentionTests(EventTestCase):
    @override_config(SECURITY_EVENT_RETENTION_DAYS=30)
    def test_the_purge_deletes_events_past_the_retention_only(self):
        now = timezone.now()
        for age in (29, 31):
            events.record([events.event(Name.USER_CREATED, now=now - timedelta(days=age))])
        self.assertEqual(services.purge(now=now)["security_events"], 1)
        self.assertEqual(SecurityEvent.objects.get().at, now - timedelta(days=29))


class EventRaceTests(TransactionTestCase):
    """Many requests at once: each session still ends with one event, a reuse is recorded
    once, a throttle's first refusal once."""

    THREADS = 12

    def setUp(self):
        self.user = make_user(email_verified_at=timezone.now())

    def race(self, path: str, bodies: list[dict]) -> list[int]:
        barrier = threading.Barrier(len(bodies))

        def one(body):
            try:
                barrier.wait(timeout=30)
                return APIClient().post(path, body, format="json").status_code
            finally:
                connection.close()

        with ThreadPoolExecutor(len(bodies)) as pool:
            return list(pool.map(one, bodies))

    def login(self) -> dict:
        return services.login(email="user@example.com", password=PASSWORD).__dict__

    def test_simultaneous_logouts_of_one_session_record_one_end(self):
        pair = self.login()
        statuses = self.race(
            reverse("logout"), [{"refresh_token": pair["refresh_token"]}] * self.THREADS
        )
        self.assertEqual(set(statuses), {200})
        self.assertEqual(ends_of(session_of(pair)), [Reason.LOGOUT])

    @override_config(REFRESH_REUSE_INTERVAL=0)
    def test_simultaneous_reuses_of_one_token_record_one_reuse_and_one_end(self):
        pair = self.login()
        services.rotate(refresh_token=pair["refresh_token"])
        statuses = self.race(
            reverse("refresh"), [{"refresh_token": pair["refresh_token"]}] * self.THREADS
        )
        self.assertEqual(set(statuses), {401})
        self.assertEqual(names(name=Name.TOKEN_REUSE), [Name.TOKEN_REUSE])
        self.assertEqual(ends_of(session_of(pair)), [Reason.REUSE])

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=1, per_address=1000, ceiling=1000))
    def test_simultaneous_refusals_record_the_first_refusal_once(self):
        services.authenticate_throttled(
            email="user@example.com", password="wrong", address="127.0.0.1", now=timezone.now()
        )
        body = {"email": "user@example.com", "password": "wrong"}
        statuses = self.race(reverse("login"), [body] * self.THREADS)
        self.assertEqual(set(statuses), {429})
        self.assertEqual(names(name=Name.RATE_LIMIT_EXCEEDED), [Name.RATE_LIMIT_EXCEEDED])


class MetricTests(EventTestCase):
    """Login outcomes, refreshes and reuse are counted in the invocation's EMF line."""

    def counted(self, work) -> dict:
        with redirect_stdout(io.StringIO()) as stdout:
            with metrics.batch(), self.captureOnCommitCallbacks(execute=True):
                work()
        (line,) = stdout.getvalue().splitlines()
        document = json.loads(line)
        assert_valid_emf(self, document)
        declared = {
            metric["Name"]
            for directive in document["_aws"]["CloudWatchMetrics"]
            for metric in directive["Metrics"]
        }
        return {name: document[name] for name in declared}

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=2, per_address=100, ceiling=100))
    def test_a_run_of_logins_and_refreshes_is_counted_by_outcome(self):
        def work():
            with override_config(REFRESH_REUSE_INTERVAL=0):
                pair = self.login()
                self.refresh(pair)
                self.refresh(pair)
            for _ in range(3):
                self.post("login", {"email": "user@example.com", "password": "wrong"})

        self.assertEqual(
            self.counted(work),
            {
                metrics.LOGIN_SUCCEEDED: 1,
                metrics.REFRESHES: 1,
                metrics.REFRESH_TOKEN_REUSED: 1,
                metrics.LOGIN_FAILED: 2,
                metrics.LOGIN_THROTTLED: 1,
                metrics.THROTTLED: 1,
            },
        )


class UnstartedLoginTests(EventTestCase):
    def test_a_login_whose_password_changed_after_its_check_records_nothing(self):
        now = timezone.now()
        session = Session(
            user_id=self.user.pk,
            created_at=now,
            last_used_at=now,
            authenticated_at=now,
            expires_at=now + timedelta(days=1),
            password_stamp="stamp",
        )
        token = RefreshToken(
            digest="0" * 64, session=session, created_at=now, expires_at=now + timedelta(hours=1)
        )
        started = sql.start_session(
            session=session,
            token=token,
            password="the hash before a change",
            give_back=[],
            keep_sessions=10,
            started=[events.event(Name.LOGIN_SUCCESS, now=now, user_id=self.user.pk)],
            evicted=events.event(Name.SESSION_EXPIRED, now=now, reason=Reason.SESSION_CAP),
        )
        self.assertFalse(started)
        self.assertFalse(SecurityEvent.objects.exists())
        self.assertFalse(Session.objects.exists())


class DeletedAccountTests(EventTestCase):
    def test_deleting_an_account_keeps_its_events_with_no_user(self):
        self.login()
        kept = SecurityEvent.objects.filter(user=self.user).count()
        self.user.delete()
        self.assertEqual(SecurityEvent.objects.filter(user=None).count(), kept)
        self.assertGreater(kept, 0)
