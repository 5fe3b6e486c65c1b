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
    path("sessions/", views.SessionsView.as_view(), name="sessions"),
    path("sessions/<uuid:session_id>/", views.SessionView.as_view(), name="session"),
]
