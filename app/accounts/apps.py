from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "app.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        # Connects the signal receiver that ends the sessions of a deactivated user.
        from app.accounts import services  # noqa: F401
