"""Admin for users and (read-only) refresh tokens; constance adds the lifetimes page itself."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils import timezone

from app.accounts import services
from app.accounts.models import RefreshToken, User


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
    list_display = ("email", "username", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "username")
    ordering = ("email",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("username",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
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


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state, state) for state in ("active", "used", "revoked", "expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        filters = {
            "active": lambda: queryset.active(now),
            "used": lambda: queryset.filter(revoked_at=None).exclude(used_at=None),
            "revoked": lambda: queryset.exclude(revoked_at=None),
            "expired": lambda: queryset.filter(revoked_at=None, used_at=None, expires_at__lte=now),
        }
        return filters[self.value()]() if self.value() in filters else queryset


@admin.register(RefreshToken)
class RefreshTokenAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "family", "created_at", "expires_at", "state")
    list_filter = (StateFilter,)
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = ("user", "family", "created_at", "expires_at", "used_at", "revoked_at", "state")
    readonly_fields = fields
    actions = ["revoke_sessions"]
    date_hierarchy = "created_at"

    @admin.display(description="state")
    def state(self, token):
        return token.state()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm("accounts.change_refreshtoken")

    @admin.action(description="Revoke the sessions of the selected tokens", permissions=["revoke"])
    def revoke_sessions(self, request, queryset):
        revoked = services.revoke_tokens(token_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Revoked {revoked} refresh tokens.", messages.SUCCESS)
