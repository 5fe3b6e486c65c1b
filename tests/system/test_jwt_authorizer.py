"""API Gateway's JWT authorizer, played against a live server: it finds the key set through the
discovery document over HTTP and checks a login's access token as the authorizer does (RS256
only, the configured issuer and audience, ``exp``/``nbf``/``iat``, the ``kid``), and refuses
what it must.

The authorizer itself is AWS's; ``jwt.PyJWKClient`` with the same rules stands in for it
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from app.accounts import keys
from devtools import PASSWORD
from devtools.http import request
from devtools.live_server import LiveServer

AUDIENCE = "auth-api"


class Authorizer:
    """What an HTTP API's JWT authorizer configured with ``issuer`` and ``audience`` does: read
    ``{issuer}/.well-known/openid-configuration``, fetch its ``jwks_uri``, and check a token."""

    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer, self.audience = issuer, audience
        reply = request(f"{issuer}/.well-known/openid-configuration")
        assert reply.status == 200, reply.content
        self.discovery = json.loads(reply.content)
        self.keys = jwt.PyJWKClient(self.discovery["jwks_uri"], cache_keys=True)

    def check(self, token: str) -> dict:
        """The token's claims, or a ``jwt.PyJWTError`` saying why it is refused."""
        key = self.keys.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            issuer=self.issuer,
            audience=self.audience,
            options={"require": ["exp", "nbf", "iat", "iss", "aud"]},
        )


@pytest.fixture(scope="module")
def server():
    with LiveServer("jwt_authorizer", workers=1) as live:
        yield live


@pytest.fixture(scope="module")
def authorizer(server):
    return Authorizer(server.url, AUDIENCE)


@pytest.fixture(scope="module")
def access_token(server):
    credentials = {"email": "authorized@example.com", "password": PASSWORD}
    assert request(f"{server.url}/api/register/", "POST", credentials).status == 201
    reply = request(f"{server.url}/api/login/", "POST", credentials)
    assert reply.status == 200, reply.content
    return json.loads(reply.content)["access_token"]


def resigned(server, token: str, **changes) -> str:
    """``token``'s claims with ``changes``, signed with the server's own key and kid."""
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    signing = keys.private_key(server.env["JWT_PRIVATE_KEY"])
    return jwt.encode(claims, signing.key, algorithm="RS256", headers={"kid": signing.public.kid})


def hs256(token: str, secret: bytes) -> str:
    """``token``'s header (with its kid) and claims under HS256 with ``secret``, made by hand:
    PyJWT refuses a PEM as an HMAC secret, an attacker's code need not (RFC 8725 2.1)."""
    header = {**jwt.get_unverified_header(token), "alg": "HS256"}
    claims = jwt.decode(token, options={"verify_signature": False})

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signed = f"{part(header)}.{part(claims)}"
    mac = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def our_api_status(server, token: str) -> int:
    return request(f"{server.url}/api/me/", headers={"Authorization": f"Bearer {token}"}).status


@pytest.mark.system
def test_the_discovery_document_names_the_server_as_issuer_and_its_key_set(server, authorizer):
    assert authorizer.discovery["issuer"] == server.url
    assert authorizer.discovery["jwks_uri"] == f"{server.url}/.well-known/jwks.json"
    assert "RS256" in authorizer.discovery["id_token_signing_alg_values_supported"]


@pytest.mark.system
def test_a_logins_access_token_passes_the_authorizer(server, authorizer, access_token):
    claims = authorizer.check(access_token)
    assert (claims["iss"], claims["aud"]) == (server.url, AUDIENCE)
    assert claims["nbf"] <= time.time() < claims["exp"]


@pytest.mark.system
def test_the_tokens_kid_is_the_rfc_7638_thumbprint_of_a_published_key(authorizer, access_token):
    published = json.loads(request(authorizer.discovery["jwks_uri"]).content)["keys"]
    kid = jwt.get_unverified_header(access_token)["kid"]
    assert kid in [keys.thumbprint(jwk) for jwk in published]
    assert authorizer.keys.get_signing_key_from_jwt(access_token).key_id == kid


@pytest.mark.system
def test_a_token_for_another_audience_is_refused(server, authorizer, access_token):
    token = resigned(server, access_token, aud="another-api")
    with pytest.raises(jwt.InvalidAudienceError):
        authorizer.check(token)
    assert our_api_status(server, token) == 401


@pytest.mark.system
def test_a_token_of_another_issuer_is_refused(server, authorizer, access_token):
    token = resigned(server, access_token, iss="https://evil.example.com")
    with pytest.raises(jwt.InvalidIssuerError):
        authorizer.check(token)
    assert our_api_status(server, token) == 401


@pytest.mark.system
def test_an_expired_token_is_refused(server, authorizer, access_token):
    issued = int(time.time()) - 3600
    times = {"iat": issued, "nbf": issued, "auth_time": issued, "exp": issued + 30}
    token = resigned(server, access_token, **times)
    with pytest.raises(jwt.ExpiredSignatureError):
        authorizer.check(token)
    assert our_api_status(server, token) == 401


@pytest.mark.system
def test_a_token_not_valid_yet_is_refused(server, authorizer, access_token):
    token = resigned(server, access_token, nbf=int(time.time()) + 3600)
    with pytest.raises(jwt.ImmatureSignatureError):
        authorizer.check(token)


@pytest.mark.system
def test_a_token_signed_by_an_unpublished_key_is_refused(server, authorizer, access_token):
    claims = jwt.decode(access_token, options={"verify_signature": False})
    stranger = keys.private_key(keys.generate("RS256"))
    ours = jwt.get_unverified_header(access_token)["kid"]
    cases = {
        "its own kid": (stranger.public.kid, jwt.PyJWKClientError),
        "our kid": (ours, jwt.InvalidSignatureError),
    }
    for label, (kid, refusal) in cases.items():
        token = jwt.encode(claims, stranger.key, algorithm="RS256", headers={"kid": kid})
        with pytest.raises(refusal):
            authorizer.check(token)
        assert our_api_status(server, token) == 401, label


@pytest.mark.system
def test_an_hs256_token_made_with_any_key_we_hold_is_refused(server, authorizer, access_token):
    private_pem = server.env["JWT_PRIVATE_KEY"]
    published = json.loads(request(authorizer.discovery["jwks_uri"]).content)["keys"][0]
    secrets = {
        "the private key's PEM": private_pem.encode(),
        "the public key's PEM": keys.public_pem(private_pem).encode(),
        "the published JWK": json.dumps(published).encode(),
        "the Django secret key": server.env["DJANGO_SECRET_KEY"].encode(),
    }
    for label, secret in secrets.items():
        token = hs256(access_token, secret)
        with pytest.raises(jwt.InvalidAlgorithmError):
            authorizer.check(token)
        assert our_api_status(server, token) == 401, label
