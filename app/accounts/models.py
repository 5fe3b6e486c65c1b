"""Users, who log in by e-mail, and the refresh tokens issued to them (kept as digests)."""

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

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
        """Find the user for a login, whatever the case of the e-mail (one index look-up)."""
        return self.alias(email_lower=Lower("email")).get(email_lower=email.lower())


class User(AbstractBaseUser, PermissionsMixin):
    """A person with an account: the e-mail is the login, the username a free display name."""

    # unique=True satisfies django.contrib.auth's check (auth.E003); the constraint below
    # is what makes the address unique regardless of case.
    email = models.EmailField(
        "e-mail address",
        max_length=254,
        unique=True,
        error_messages={"unique": "A user with that e-mail address already exists."},
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

    class Meta:
        constraints = [
            # Case-insensitive uniqueness in the database itself, so two simultaneous
            # registrations of one address cannot both succeed.
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with that e-mail address already exists.",
            ),
        ]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)


class RefreshTokenQuerySet(models.QuerySet):
    def active(self, now):
        """Tokens that can still be exchanged at ``now``."""
        return self.filter(used_at=None, revoked_at=None, expires_at__gt=now)


class RefreshToken(models.Model):
    """One refresh token: only its SHA-256 digest is kept, never the token itself.

    Every login starts a family; each rotation adds a token to it and marks the old one used.
    A used token shown again revokes the whole family (RFC 9700 section 4.14.2).
    """

    digest = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_tokens")
    family = models.UUIDField(db_index=True, editable=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = RefreshTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"refresh token {self.pk} of {self.user_id} ({self.state()})"

    def state(self, now=None):
        """One word for the admin: active, used, revoked or expired."""
        if self.revoked_at is not None:
            return "revoked"
        if self.used_at is not None:
            return "used"
        if self.expires_at <= (now or timezone.now()):
            return "expired"
        return "active"
