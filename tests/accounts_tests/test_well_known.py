"""``/.well-known/jwks.json`` and ``/.well-known/openid-configuration``: the public keys and
the discovery document another service (API Gateway's JWT authorizer) verifies our tokens
with, and a key rotation walked with a key set cached as API Gateway would hold it."""

from datetime import timedelta
from unittest import mock

import jwt
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APITestCase

from app.accounts import keys
from tests.accounts_tests.factories import PASSWORD, make_user

JWKS = "/.well-known/jwks.json"
DISCOVERY = "/.well-known/openid-configuration"
PATHS = (JWKS, DISCOVERY)
CURRENT, NEXT, OLD = (keys.generate("RS256") for _ in range(3))
EC = keys.generate("ES256")


def kids(document: dict) -> list[str]:
    return [key["kid"] for key in document["keys"]]


def kid_of(pem: str) -> str:
    return keys.private_key(pem).public.kid


def verify_with(key_set: dict, token: str) -> dict:
    """Check ``token`` as a JWT authorizer holding ``key_set`` would: the key its kid names,
    RS256 only, our issuer and audience, every time claim."""
    header = jwt.get_unverified_header(token)
    published = jwt.PyJWKSet.from_dict(key_set)
    key = next(key for key in published.keys if key.key_id == header["kid"])
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
        options={"require": ["exp", "nbf", "iat", "iss", "aud"]},
    )


class PublishedKeysTests(APITestCase):
    def test_the_key_set_publishes_the_signing_keys_public_jwk_by_its_kid(self):
        with override_settings(JWT_PRIVATE_KEY=CURRENT):
            published = self.client.get(JWKS).json()["keys"]
        self.assertEqual(len(published), 1)
        self.assertEqual(set(published[0]), {"kty", "n", "e", "kid", "alg", "use"})
        self.assertEqual(
            (published[0]["kty"], published[0]["alg"], published[0]["use"]), ("RSA", "RS256", "sig")
        )
        self.assertEqual(published[0]["kid"], kid_of(CURRENT))

    def test_the_key_set_publishes_the_next_and_the_previous_keys_after_the_current(self):
        with override_settings(
            JWT_PRIVATE_KEY=CURRENT,
            JWT_NEXT_PRIVATE_KEY=NEXT,
            JWT_PREVIOUS_PUBLIC_KEYS=[keys.public_pem(OLD)],
        ):
            document = self.client.get(JWKS).json()
        self.assertEqual(kids(document), [kid_of(CURRENT), kid_of(NEXT), kid_of(OLD)])

    def test_an_ec_key_is_published_with_its_curve_and_coordinates(self):
        with override_settings(JWT_PRIVATE_KEY=EC):
            (published,) = self.client.get(JWKS).json()["keys"]
        self.assertEqual(set(published), {"kty", "crv", "x", "y", "kid", "alg", "use"})
        self.assertEqual((published["crv"], published["alg"]), ("P-256", "ES256"))

    def test_no_private_value_appears_in_the_key_set_or_the_discovery_document(self):
        for label, pem in {"RSA": CURRENT, "EC": EC}.items():
            private = jwt.algorithms.RSAAlgorithm if label == "RSA" else jwt.algorithms.ECAlgorithm
            values = private.to_jwk(keys.private_key(pem).key, as_dict=True)
            secret = {
                name: values[name] for name in ("d", "p", "q", "dp", "dq", "qi") if name in values
            }
            pem_body = "".join(pem.strip().splitlines()[1:-1])
            with override_settings(JWT_PRIVATE_KEY=CURRENT, JWT_NEXT_PRIVATE_KEY=EC):
                answers = {path: self.client.get(path).content.decode() for path in PATHS}
            for path, text in answers.items():
                with self.subTest(key=label, path=path):
                    for name, value in secret.items():
                        self.assertNotIn(value, text, name)
                        self.assertNotIn(f'"{name}"', text)
                    self.assertNotIn("PRIVATE", text)
                    for line in pem.strip().splitlines()[1:-1]:
                        self.assertNotIn(line, text)
                    self.assertNotIn(pem_body[:40], text)

    def test_both_documents_are_public_cacheable_json_without_a_token(self):
        for path in (JWKS, DISCOVERY):
            with self.subTest(path):
                response = self.client.get(path)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response["Content-Type"], "application/json")
                self.assertEqual(
                    response["Cache-Control"], f"public, max-age={settings.JWKS_MAX_AGE}"
                )
                self.assertFalse(response.has_header("Pragma"))

    def test_the_cache_lifetime_is_shorter_than_the_two_hours_a_next_key_is_announced(self):
        self.assertLess(settings.JWKS_MAX_AGE, 2 * 3600)

    def test_other_methods_are_refused(self):
        for path in (JWKS, DISCOVERY):
            with self.subTest(path):
                self.assertEqual(self.client.post(path).status_code, 405)


class DiscoveryTests(APITestCase):
    def login(self) -> str:
        self.user = make_user()
        response = self.client.post(
            "/api/login/", {"email": "user@example.com", "password": PASSWORD}, format="json"
        )
        return response.json()["access_token"]

    def test_the_issuer_is_byte_equal_to_the_iss_of_a_logins_token(self):
        token = self.login()
        issuer = self.client.get(DISCOVERY).json()["issuer"]
        self.assertEqual(issuer, jwt.decode(token, options={"verify_signature": False})["iss"])

    def test_the_key_set_is_at_the_issuers_well_known_path(self):
        document = self.client.get(DISCOVERY).json()
        self.assertEqual(document["jwks_uri"], f"{document['issuer']}/.well-known/jwks.json")

    def test_it_names_what_a_jwt_authorizer_reads(self):
        document = self.client.get(DISCOVERY).json()
        self.assertEqual(document["id_token_signing_alg_values_supported"], ["RS256"])
        for name in ("response_types_supported", "subject_types_supported"):
            with self.subTest(name):
                self.assertIsInstance(document[name], list)

    def test_a_logins_token_verifies_with_the_published_key_set(self):
        token = self.login()
        self.assertEqual(verify_with(self.client.get(JWKS).json(), token)["sub"], str(self.user.pk))


class RotationWalkTests(APITestCase):
    """docs/security.md's rotation: announce the next key, wait while caches catch up,
    promote it, keep the old public key for the longest access lifetime, drop it."""

    def setUp(self):
        self.user = make_user()

    def login(self) -> str:
        response = self.client.post(
            "/api/login/", {"email": "user@example.com", "password": PASSWORD}, format="json"
        )
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()["access_token"]

    def me(self, token: str) -> int:
        return self.client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code

    def test_a_key_set_cached_before_the_promotion_verifies_tokens_signed_after_it(self):
        with override_settings(JWT_PRIVATE_KEY=CURRENT, JWT_NEXT_PRIVATE_KEY=NEXT):
            cached = self.client.get(JWKS).json()
        with override_settings(
            JWT_PRIVATE_KEY=NEXT, JWT_PREVIOUS_PUBLIC_KEYS=[keys.public_pem(CURRENT)]
        ):
            after = self.login()
        self.assertEqual(jwt.get_unverified_header(after)["kid"], kid_of(NEXT))
        self.assertEqual(verify_with(cached, after)["sub"], str(self.user.pk))

    def test_a_key_set_cached_before_the_announcement_would_miss_the_promoted_key(self):
        # Why the wait between announcing and promoting: such a cache must have expired.
        with override_settings(JWT_PRIVATE_KEY=CURRENT):
            stale = self.client.get(JWKS).json()
        with override_settings(JWT_PRIVATE_KEY=NEXT):
            after = self.login()
        self.assertNotIn(jwt.get_unverified_header(after)["kid"], kids(stale))

    def test_a_token_from_before_the_rotation_passes_until_its_expiry_then_the_key_goes(self):
        with override_settings(JWT_PRIVATE_KEY=CURRENT):
            before = self.login()
            cached = self.client.get(JWKS).json()
        promoted = {"JWT_PRIVATE_KEY": NEXT, "JWT_PREVIOUS_PUBLIC_KEYS": [keys.public_pem(CURRENT)]}
        with override_settings(**promoted):
            self.assertEqual(self.me(before), 200)
            for key_set in (self.client.get(JWKS).json(), cached):
                self.assertEqual(verify_with(key_set, before)["sub"], str(self.user.pk))
            later = timezone.now() + timedelta(seconds=31) + settings.JWT_LEEWAY
            with mock.patch("django.utils.timezone.now", return_value=later):
                self.assertEqual(self.me(before), 401)
        with override_settings(JWT_PRIVATE_KEY=NEXT):
            self.assertEqual(self.me(before), 401)
            self.assertNotIn(kid_of(CURRENT), kids(self.client.get(JWKS).json()))


@override_settings(JWT_ISSUER="")
class IssuerUnknownTests(APITestCase):
    """A stage's first version on Lambda, before ``scripts/deploy`` set its URL: it starts,
    and answers what needs the issuer with a retryable 503."""

    def test_logins_and_the_discovery_document_answer_503_until_the_issuer_is_set(self):
        make_user()
        login = self.client.post(
            "/api/login/", {"email": "user@example.com", "password": PASSWORD}, format="json"
        )
        discovery = self.client.get("/.well-known/openid-configuration")
        for answer in (login, discovery):
            with self.subTest(answer.request["PATH_INFO"]):
                self.assertEqual(answer.status_code, 503)
                self.assertEqual(answer.json()["code"], "service_unavailable")
