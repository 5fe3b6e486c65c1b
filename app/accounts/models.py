"""Users (who log in by e-mail), their sessions, the refresh tokens of a session (kept as
digests), the one-time tokens sent by mail (kept as digests), and the attempt counters that
throttle logins, registrations and mail."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from app.accounts.emails import InvalidEmail, canonical_email
from app.accounts.errors import EmailTaken
from app.accounts.tokens import password_stamp, password_stamps


class EmailAddressField(models.EmailField):
    """An e-mail kept in its canonical form (``emails.canonical_email``), whoever writes it.

    ``to_python`` runs in every model and admin form clean and in ``createsuperuser``.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        try:
            return canonical_email(value)
        except InvalidEmail as error:
            raise ValidationError(str(error), code="invalid") from None


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email):
        """The canonical form; ``InvalidEmail`` (a ``ValueError``) for what cannot be one."""
        return canonical_email(email or "")

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        """Create an active user; ``password=None`` makes one that cannot log in."""
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        """Create a staff superuser, as ``createsuperuser`` does."""
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, email):
        """Find the user for a login by the canonical form of what was typed (one look-up)."""
        try:
            return self.get(email=self.normalize_email(email))
        except InvalidEmail:
            raise self.model.DoesNotExist() from None


class User(AbstractBaseUser, PermissionsMixin):
    """A person with an account: the e-mail is the login, the username a free display name."""

    email = EmailAddressField(
        "e-mail address",
        max_length=254,
        unique=True,
        error_messages={"unique": EmailTaken.default_message},
    )
    username = models.CharField(max_length=150, blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Whether the user can log into the admin site."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    email_verified_at = models.DateTimeField(
        "e-mail verified at",
        null=True,
        blank=True,
        help_text="When the owner of the e-mail followed a link sent to it; empty if never.",
    )
    # Under EMAIL_CHANGE_POLICY=confirm, the new e-mail waiting for its verification: not a
    # login until then.
    pending_email = EmailAddressField("pending e-mail", max_length=254, blank=True, default="")

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self):
        return self.email

    def check_password(self, raw_password: str) -> bool:
        """Django's check, whose hash upgrade (new hasher parameters, the same password)
        keeps the user's sessions: they are re-stamped with the new hash in the same
        transaction, and the hash is replaced only if it is still the one checked, so that
        simultaneous logins agree on one new hash."""

        def upgrade(raw: str) -> None:
            old, new = self.password, make_password(raw)
            with transaction.atomic():
                if User.objects.filter(pk=self.pk, password=old).update(password=new):
                    Session.objects.filter(user_id=self.pk).started_under(old).update(
                        password_stamp=password_stamp(new)
                    )
                    self.password = new
                else:
                    stored = User.objects.filter(pk=self.pk).values_list("password", flat=True)
                    self.password = stored.first() or old
            self._password = None

        return check_password(raw_password, self.password, upgrade)


class SessionQuerySet(models.QuerySet):
    """The rules about many sessions: which are live, and how they end."""

    def live(self, now: datetime) -> SessionQuerySet:
        """Sessions not ended and not past their absolute end at ``now``."""
        return self.filter(revoked_at=None, expires_at__gt=now)

    def started_under(self, password_hash: str) -> SessionQuerySet:
        """Sessions whose stamp says they started under ``password_hash``."""
        return self.filter(password_stamp__in=password_stamps(password_hash))

    def beyond(self, keep: int) -> SessionQuerySet:
        """These sessions less the ``keep`` most recently used."""
        ranked = self.order_by("-last_used_at", "-created_at").values("pk")[keep:]
        return self.model.objects.filter(pk__in=ranked)

    def end(self, now: datetime) -> int:
        """End these sessions at ``now``; return how many were still live.

        An UPDATE takes each row's lock: it waits for a rotation in progress, and a rotation
        that starts after it sees ``revoked_at``.
        """
        return self.filter(revoked_at=None).update(revoked_at=now)


class Session(models.Model):
    """One login: the refresh tokens it rotates through, and the row every revocation locks.

    Ending a session sets ``revoked_at`` here, under the row lock that ``rotate()`` takes, so no
    successor token can be issued once it is set. ``expires_at`` is absolute: refreshes
    never extend it. ``password_stamp`` is a keyed digest of the password hash the session
    started under (as Django's session auth hash): once the password changes, by any path,
    the refresh sees the difference and ends the session. ``authenticated_at`` is when the
    password was last checked for it (OpenID Connect's ``auth_time``).

    Lock order, everywhere: the user's row, then the session's, then its tokens'.
    """

    # Opaque: never a token or a digest, safe to show to the user and in the admin.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    last_used_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    authenticated_at = models.DateTimeField()
    password_stamp = models.CharField(max_length=64, editable=False)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The user's sessions page by page, newest first, and the login's cap.
            models.Index(fields=["user", "-created_at"], name="session_user_created"),
        ]

    def __str__(self):
        return f"session {self.pk} of user {self.user_id}"

    def started_under(self, password_hash: str) -> bool:
        """Whether this session's stamp says it started under ``password_hash``."""
        return self.password_stamp in password_stamps(password_hash)

    def state(self, now: datetime | None = None) -> str:
        """One word for the admin: active, revoked or expired."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or timezone.now()):
            return "expired"
        return "active"


class RefreshToken(models.Model):
    """One refresh token of a session: only its SHA-256 digest is kept, never the token.

    Each rotation marks the token used and adds its successor to the session. A used token
    shown again ends the session (RFC 9700 section 4.14.2); used tokens are kept until they
    expire, so reuse is detected for as long as a copy could be shown.
    """

    digest = models.CharField(max_length=64, unique=True, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="tokens")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    # The successor this token's use issued, sealed with a key only the token itself gives
    # (``tokens.seal_successor``), kept while a retry may still ask for it.
    successor_seal = models.CharField(max_length=32, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The few tokens of a session that still hold a seal, erased at its next rotation.
            models.Index(
                fields=["session"], condition=~models.Q(successor_seal=""), name="token_sealed"
            ),
        ]

    def __str__(self):
        return f"refresh token {self.pk} of {self.session_id}"


class AttemptCounter(models.Model):
    """Attempts (failed logins, registrations) of one subject in one fixed window.

    ``key`` names the scope, a digest of the subject and the window's start. Rows are only
    ever incremented in place (``throttling.py``) and deleted once ``expires_at`` passed.
    """

    key = models.CharField(max_length=128, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.key}: {self.count}"


class MailTokenQuerySet(models.QuerySet):
    """The rules about many mail tokens: which still work, and how they are voided."""

    def usable(self, now: datetime) -> MailTokenQuerySet:
        """Tokens neither used nor voided nor past their end at ``now``."""
        return self.filter(used_at=None, expires_at__gt=now)

    def void(self, now: datetime) -> int:
        """Use up these tokens at ``now`` without acting on them; return how many worked."""
        return self.filter(used_at=None).update(used_at=now)

    def holding(self, email: str, now: datetime) -> MailTokenQuerySet:
        """Live "this wasn't me" tokens that would give ``email`` back to its old owner: while
        one works, nobody else may take that address."""
        return self.usable(now).filter(purpose=MailToken.Purpose.REVERT, email=email)


class MailToken(models.Model):
    """A one-time token sent by mail: only its SHA-256 digest is kept, never the token.

    ``email`` is the address it was sent to (a reset, a verification), or for a revert the
    old address it gives back. ``password_stamp`` binds a reset to the password the user had
    when it was asked for: once the password changes, by any path, the reset no longer works.
    ``used_at`` is set when it is used, or when something voids it (a newer reset, a revert).
    """

    class Purpose(models.TextChoices):
        RESET = "reset", "password reset"
        VERIFY = "verify", "e-mail verification"
        REVERT = "revert", "e-mail change revert"

    digest = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="mail_tokens")
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    email = models.EmailField(max_length=254)
    password_stamp = models.CharField(max_length=64, blank=True, default="", editable=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    objects = MailTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The user's tokens of one kind, voided together.
            models.Index(fields=["user", "purpose"], name="mailtoken_user_purpose"),
            # Is an address held by a revert?
            models.Index(fields=["email"], name="mailtoken_email"),
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} token {self.pk} of user {self.user_id}"


class SecurityEventQuerySet(models.QuerySet):
    """The rules about many security events: whose they are, and how long they are kept."""

    def of_user(self, user_id: int) -> SecurityEventQuerySet:
        """The events of one user's account, newest first."""
        return self.filter(user_id=user_id).order_by("-id")

    def older_than(self, when: datetime) -> SecurityEventQuerySet:
        """Events recorded before ``when``: past their retention."""
        return self.filter(at__lt=when)


class SecurityEvent(models.Model):
    """Something that happened to an account, kept for its owner and the operator: append-only,
    written in the transaction of the change it records.

    Names follow OWASP's Logging Vocabulary
    (https://cheatsheetseries.owasp.org/cheatsheets/Logging_Vocabulary_Cheat_Sheet.html), plus
    the product's own; ``reason`` says how (for ``session_expired``, who or what ended the
    session). ``address`` and ``user_agent`` are the client's that caused the event. Never a
    password, a token or a digest of one; ``email`` is the account's address at the time, or the
    address typed at a failed login of no account.
    """

    class Name(models.TextChoices):
        LOGIN_SUCCESS = "authn_login_success", "login succeeded"
        LOGIN_FAIL = "authn_login_fail", "login failed"
        LOGIN_FAIL_MAX = "authn_login_fail_max", "login failures reached the limit"
        LOGIN_LOCK = "authn_login_lock", "account locked against logins"
        PASSWORD_CHANGE = "authn_password_change", "password changed"
        TOKEN_REUSE = "authn_token_reuse", "refresh token reused"
        SESSION_CREATED = "session_created", "session started"
        SESSION_EXPIRED = "session_expired", "session ended"
        RATE_LIMIT_EXCEEDED = "excess_rate_limit_exceeded", "rate limit exceeded"
        USER_CREATED = "user_created", "account created"
        PASSWORD_RESET_REQUESTED = "password_reset_requested", "password reset requested"
        PASSWORD_RESET_COMPLETED = "password_reset_completed", "password reset completed"
        EMAIL_CHANGED = "email_changed", "e-mail changed"
        EMAIL_CHANGE_REVERTED = "email_change_reverted", "e-mail change reverted"
        EMAIL_VERIFIED = "email_verified", "e-mail verified"

    id = models.BigAutoField(primary_key=True)
    name = models.CharField("event", max_length=32, choices=Name.choices)
    reason = models.CharField(max_length=32, blank=True, default="")
    at = models.DateTimeField("time")
    user = models.ForeignKey(
        User,
        # An account deleted by staff leaves its trail: who did what from where.
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="security_events",
        # No constraint in the database (Django still nulls it when a user is deleted): its
        # check would share-lock the user's row, so an event written beside a change that
        # waits for that row (a failed login's, while a reset holds it) would close a cycle of
        # locks with the counters. An append-only record never waits for the row it names.
        db_constraint=False,
    )
    email = models.CharField("e-mail", max_length=254, blank=True, default="")
    # Not a foreign key: events outlive the sessions the daily purge deletes.
    session_id = models.UUIDField("session", null=True, blank=True)
    address = models.GenericIPAddressField("client address", null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")

    objects = SecurityEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # A user's events page by page, newest first.
            models.Index(fields=["user", "-id"], name="event_user_newest"),
            # The purge, and the admin's time filter.
            models.Index(fields=["at"], name="event_at"),
            models.Index(fields=["name", "at"], name="event_name_at"),
            models.Index(fields=["address", "at"], name="event_address_at"),
        ]

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
