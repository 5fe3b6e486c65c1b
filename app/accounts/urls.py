from django.urls import path

from app.accounts import views

urlpatterns = [
    path("", views.APIRootView.as_view(), name="api-root"),
    path("register/", views.RegisterView.as_view(), name="register"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("refresh/", views.RefreshView.as_view(), name="refresh"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("logout/all/", views.LogoutAllView.as_view(), name="logout-all"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/password/", views.PasswordView.as_view(), name="password"),
    path("me/email/", views.MeEmailView.as_view(), name="me-email"),
    path("me/events/", views.EventsView.as_view(), name="me-events"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "password/reset/confirm/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("email/verify/", views.EmailVerifyView.as_view(), name="email-verify"),
    path("email/verify/resend/", views.EmailVerifyResendView.as_view(), name="email-verify-resend"),
    path("email/revert/", views.EmailRevertView.as_view(), name="email-revert"),
    path("health/", views.HealthView.as_view(), name="health"),
    path("sessions/", views.SessionsView.as_view(), name="sessions"),
    path("sessions/<uuid:session_id>/", views.SessionView.as_view(), name="session"),
]
