"""Pages of the project that are not the accounts API: the front door, its icon, and the docs'
views loaded on their first request."""

from importlib import import_module

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
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
