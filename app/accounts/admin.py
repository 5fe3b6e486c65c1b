"""Admin for users, (read-only) sessions with their tokens and (append-only) security events;
constance adds its own page."""

from __future__ import annotations

import re
from uuid import UUID

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from app.accounts import events, services, throttling
from app.accounts.models import RefreshToken, SecurityEvent, Session, User
from app.accounts.views import client, links_base


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    actions = ["end_all_sessions", "lift_login_locks", "send_password_resets"]
    readonly_fields = ("sessions", "security_events", "email_verified_at", "pending_email")
    list_display = (
        "email",
        "username",
        "email_verified",
        "is_active",
        "is_staff",
        "date_joined",
        "last_login",
    )
    list_filter = (
        ("email_verified_at", admin.EmptyFieldListFilter),
        "is_active",
        "is_staff",
        "is_superuser",
    )
    search_fields = ("email", "username")
    ordering = ("email",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("E-mail verification", {"fields": ("email_verified_at", "pending_email")}),
        ("Profile", {"fields": ("username",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
        ("Sessions", {"fields": ("sessions",)}),
        ("Security events", {"fields": ("security_events",)}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )

    # Ending sessions changes the users (they must log in again): not for view-only staff.
    @admin.action(description="End every session of the selected users", permissions=["change"])
    def end_all_sessions(self, request, queryset):
        ended = sum(
            services.end_user_sessions(user_id=pk, **client(request))
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"Ended {ended} sessions.", messages.SUCCESS)

    @admin.action(
        description="Lift the failed-login lock of the selected users' e-mails",
        permissions=["change"],
    )
    def lift_login_locks(self, request, queryset):
        """For an owner locked out by guesses from many addresses (the e-mail's daily ceiling):
        their wrong-password counts go, from every address."""
        lifted = services.lift_login_locks(emails=list(queryset.values_list("email", flat=True)))
        self.message_user(request, f"Cleared {lifted} counters.", messages.SUCCESS)

    @admin.action(
        description="Send a password reset link to the selected users", permissions=["change"]
    )
    def send_password_resets(self, request, queryset):
        """Mail each selected active user a reset link (as if they had asked for one)."""
        sent = services.send_password_resets(
            user_ids=list(queryset.values_list("pk", flat=True)),
            base_url=links_base(request),
            **client(request),
        )
        self.message_user(request, f"Sent {sent} password reset links.", messages.SUCCESS)

    @admin.display(description="verified", boolean=True, ordering="email_verified_at")
    def email_verified(self, user):
        return user.email_verified_at is not None

    @admin.display(description="sessions")
    def sessions(self, user):
        """The user's sessions, newest first, each linked to its page (which can end it)."""
        rows = format_html_join(
            "",
            '<li><a href="{}">{}</a>: {}, last used {}, {}</li>',
            (
                (
                    reverse("admin:accounts_session_change", args=[session.pk]),
                    session.pk,
                    session.created_at.strftime("%Y-%m-%d %H:%M"),
                    session.last_used_at.strftime("%Y-%m-%d %H:%M"),
                    session.state(),
                )
                for session in user.sessions.order_by("-created_at")[:50]
            ),
        )
        return format_html("<ul>{}</ul>", rows) if rows else "none"

    @admin.display(description="security events")
    def security_events(self, user):
        """A link to the user's events in their own list, where they can be filtered further."""
        return format_html(
            '<a href="{}?{}={}">The events of this account</a>',
            reverse("admin:accounts_securityevent_changelist"),
            EventUserFilter.parameter_name,
            user.pk,
        )


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state, state) for state in ("active", "revoked", "expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        filters = {
            "active": lambda: queryset.live(now),
            "revoked": lambda: queryset.exclude(revoked_at=None),
            "expired": lambda: queryset.filter(revoked_at=None, expires_at__lte=now),
        }
        return filters[self.value()]() if self.value() in filters else queryset


class RefreshTokenInline(admin.TabularInline):
    """The session's tokens, newest first: times only, never the digest."""

    model = RefreshToken
    fields = ("created_at", "expires_at", "used_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "created_at", "last_used_at", "expires_at", "ip_address", "state")
    list_filter = (StateFilter,)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = (
        "id",
        "user",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "ip_address",
        "user_agent",
        "state",
    )
    readonly_fields = fields
    inlines = [RefreshTokenInline]
    actions = ["end_sessions"]
    date_hierarchy = "created_at"

    @admin.display(description="state")
    def state(self, session):
        return session.state()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_end_permission(self, request):
        return request.user.has_perm("accounts.change_session")

    @admin.action(description="End the selected sessions", permissions=["end"])
    def end_sessions(self, request, queryset):
        ended = services.end_sessions(
            session_ids=queryset.values_list("pk", flat=True), **client(request)
        )
        self.message_user(request, f"Ended {ended} sessions.", messages.SUCCESS)


# An id that fits a bigint: anything else in the query string is refused, not sent to the database.
_ID = re.compile(r"[0-9]{1,18}")


class EventUserFilter(admin.SimpleListFilter):
    """The events of one user (``?user=<id>``, as the user's page links). Shown only once
    chosen: a list of every user to pick from would load the whole user table."""

    title = "user"
    parameter_name = "user"

    def lookups(self, request, model_admin):
        user_id = self.value()
        if user_id is None:
            return []
        # A filter with no choice is dropped unapplied: one that is no id must reach queryset().
        email = (
            User.objects.filter(pk=user_id).values_list("email", flat=True).first()
            if _ID.fullmatch(user_id)
            else None
        )
        return [(user_id, email or f"user {user_id} (none now)")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if not _ID.fullmatch(self.value()):
            raise IncorrectLookupParameters(f"{self.parameter_name} must be a user id")
        return queryset.filter(user_id=int(self.value()))


class ReasonFilter(admin.SimpleListFilter):
    """The reasons the services write (``events.Reason``, the limits' scopes): a fixed list,
    where Django's own filter of a text column would read every distinct value from the
    table."""

    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        reasons = [
            value
            for name, value in vars(events.Reason).items()
            if name.isupper() and isinstance(value, str)
        ]
        # A limit reached or exceeded is named by its scope.
        return [(value, value) for value in [*reasons, *throttling.SCOPES]]

    def queryset(self, request, queryset):
        return queryset.filter(reason=self.value()) if self.value() is not None else queryset


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    """The events, newest first, for staff who may view them. Append-only: nobody adds,
    changes or deletes one here, superusers included; the daily purge ends them."""

    list_display = (
        "at",
        "name",
        "reason",
        "user",
        "email",
        "session_id",
        "address",
        "user_agent",
    )
    # No date_hierarchy: its list of years is a DISTINCT over the whole table.
    list_filter = ("name", ReasonFilter, ("at", admin.DateFieldListFilter), EventUserFilter)
    list_select_related = ("user",)
    list_per_page = 50
    # One count of the filtered rows is enough; the table's total would be a second scan.
    show_full_result_count = False
    ordering = ("-id",)
    # Enables the search box; get_search_results decides what a term matches.
    search_fields = ("address", "session_id", "email", "user__email")
    search_help_text = (
        "An IP address or a session id (exact), or part of an e-mail (the event's or its user's)."
    )

    def get_search_results(self, request, queryset, search_term):
        """An IP address matches the client address and a UUID the session (exactly, on their
        indexes, and never as text the column's type refuses); anything else part of the
        event's e-mail or its user's."""
        term = search_term.strip()
        if not term:
            return queryset, False
        address = events.ip_or_none(term)
        if address:
            return queryset.filter(address=address), False
        try:
            return queryset.filter(session_id=UUID(term)), False
        except ValueError:
            pass
        return queryset.filter(Q(email__icontains=term) | Q(user__email__icontains=term)), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
