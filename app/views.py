"""Pages of the project that are not the accounts API: the front door, and the docs' views
loaded on their first request."""

from importlib import import_module

from django.template.response import TemplateResponse
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
