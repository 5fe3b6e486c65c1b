"""The API's documentation: the OpenAPI schema, Swagger UI and ReDoc.

Only the docs' URLs import this module (through ``app/urls.py``'s lazy views), so that
drf-spectacular's views and the schema description load when the docs are asked for, never on
an API request's path.
"""

from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema, JSON first: a browser shows it instead of downloading YAML
    (``?format=yaml`` or ``Accept: application/vnd.oai.openapi`` still give YAML)."""

    renderer_classes = [
        OpenApiJsonRenderer,
        OpenApiJsonRenderer2,
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
    ]


schema = SchemaView.as_view()
# The split view serves its setup script from a URL of ours: no inline script (CSP).
swagger_ui = SpectacularSwaggerSplitView.as_view(url_name="schema")
redoc = SpectacularRedocView.as_view(url_name="schema")
