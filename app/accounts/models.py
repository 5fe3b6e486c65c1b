"""Users (who log in by e-mail), their sessions, the refresh tokens of a session (kept as
digests), and the attempt counters that throttle logins and registrations."""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from app.accounts.emails import InvalidEmail, canonical_email
from app.accounts.errors import EmailTaken


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

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self):
        return self.email


class Session(models.Model):
    """One login: the refresh tokens it rotates through, and the row every revocation locks.

    Ending a session sets ``revoked_at`` here, under the row lock that ``rotate()`` takes, so no
    successor token can be issued once it is set. ``expires_at`` is absolute: refreshes
    never extend it.
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

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"session {self.pk} of user {self.user_id}"

    def state(self, now=None):
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

    class Meta:
        ordering = ["-created_at"]

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
