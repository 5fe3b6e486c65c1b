"""Pages of the project that are not the accounts API: the front door, its icon, the pages the
mailed links open, and the docs' views loaded on their first request."""

from importlib import import_module

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


def front_door(request):
    """``/``: what this service is, where its docs are, and its flow to try in the browser."""
    return TemplateResponse(request, "front_door.html")


def docs(name: str):
    """The view ``name`` of ``app.docs``, imported when it is first called, not at start-up."""

    @csrf_exempt
    def view(request, *args, **kwargs):
        return getattr(import_module("app.docs"), name)(request, *args, **kwargs)

    return view


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``: the product's icon (a static file, under the stage's prefix)."""
    return redirect(static("front/favicon.svg"))


# The pages mailed links open: each sends the link's token to its endpoint when asked.
LINK_PAGES = {
    "reset": {
        "title": "Choose a new password",
        "lead": "Setting a new password logs you out everywhere and logs you in here.",
        "button": "Set the new password",
        "api": "password-reset-confirm",
        "done": "Your new password is set. Every other session has ended.",
    },
    "verify": {
        "title": "Confirm your e-mail address",
        "lead": "Confirm that this address is the one of your account.",
        "button": "Confirm this address",
        "api": "email-verify",
        "done": "Address confirmed.",
    },
    "revert": {
        "title": "This wasn't me",
        "lead": (
            "Undo the change of your account's e-mail: the old address comes back, every "
            "session ends, and a link to choose a new password is sent to it."
        ),
        "button": "Undo the change",
        "api": "email-revert",
        "done": (
            "The old address is back and every session has ended. Check that address for a "
            "link to choose a new password."
        ),
    },
}


def link_page(action: str):
    """The page that a mailed link of ``action`` (reset, verify, revert) opens."""
    page = LINK_PAGES[action]

    def view(request: HttpRequest) -> TemplateResponse:
        context = {
            **page,
            "api": reverse(page["api"]),
            "action": action,
            "product": settings.PRODUCT_NAME,
        }
        return TemplateResponse(request, "account_link.html", context)

    return view
