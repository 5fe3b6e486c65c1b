"""What the tests share with each other, and with the local tools that stand in for AWS
(``scripts/lambda-serve``, the cold-start benchmark): never imported by the product."""

# A password Django's validators accept, for every account a test or a tool makes.
PASSWORD = "correct-horse-battery"

# The API's paths as the OpenAPI schema (and Swagger UI) names them.
API_PATHS = [
    "/api/register/",
    "/api/login/",
    "/api/refresh/",
    "/api/logout/",
    "/api/logout/all/",
    "/api/me/",
    "/api/me/password/",
    "/api/sessions/",
    "/api/sessions/{session_id}/",
]
