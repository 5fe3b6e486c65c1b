"""Pages of the project that are not the accounts API: the front door and the schema."""

from django.template.response import TemplateResponse
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView


def front_door(request):
    """``/``: what this service is, where its docs are, and its flow to try in the browser."""
    return TemplateResponse(request, "front_door.html")


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema, JSON first: a browser shows it instead of downloading YAML
    (``?format=yaml`` or ``Accept: application/vnd.oai.openapi`` still give YAML)."""

    renderer_classes = [
        OpenApiJsonRenderer,
        OpenApiJsonRenderer2,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]
