"""App configurations of the project itself (apps are imported before models are ready)."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """``django.contrib.admin`` with our site: its login form is throttled (``app.admin``)."""

    default_site = "app.admin.AdminSite"
