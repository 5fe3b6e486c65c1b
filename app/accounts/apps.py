from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "app.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        # Registers the bearer scheme with drf-spectacular.
        from app.accounts import schema  # noqa: F401
