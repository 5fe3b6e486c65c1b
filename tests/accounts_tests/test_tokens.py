"""``app/accounts/tokens.py``: access JWTs and refresh-token digests, with no database."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.conf import settings
from django.test import SimpleTestCase, override_settings

from app.accounts import keys, tokens
from app.accounts.errors import InvalidAccessToken
from devtools import ROOT, random_keys

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(seconds=30)


def claims(**overrides):
    issued = int(NOW.timestamp())
    base = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "token_type": "access",
        "user_id": 7,
        "sub": "7",
        "iat": issued,
        "nbf": issued,
        "exp": issued + 30,
        "auth_time": issued,
        "jti": "abc",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(payload, pem=None, algorithm=None, kid=None):
    """``payload`` signed with ``pem`` (the settings' signing key unless given), its
    algorithm and ``kid`` unless told otherwise."""
    key = keys.private_key(pem or settings.JWT_PRIVATE_KEY)
    return jwt.encode(
        payload,
        key.key,
        algorithm=algorithm or key.public.algorithm,
        headers={"kid": key.public.kid if kid is None else kid},
    )


def hs256(payload, secret: bytes, kid: str) -> str:
    """An HS256 token made by hand (PyJWT refuses a PEM as an HMAC secret): what an attacker
    who holds our public key would try (RFC 8725 section 2.1)."""

    def part(value) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signed = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(payload)}"
    mac = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# Keys of these tests, made once (an RSA key takes tens of milliseconds).
OLD_PEM, NEW_PEM, NEXT_PEM = (keys.generate("RS256") for _ in range(3))
EC_PEM = keys.generate("ES256")


class AccessTokenTests(SimpleTestCase):
    def test_issued_token_decodes_to_its_user_and_times(self):
        token = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
        decoded = tokens.decode_access_token(token, now=NOW)
        self.assertEqual(decoded.user_id, 7)
        self.assertEqual(decoded.issued_at, NOW)
        self.assertEqual(decoded.expires_at, NOW + LIFETIME)

    def test_issued_token_carries_the_documented_claims(self):
        token = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
        payload = jwt.decode(token, options={"verify_signature": False})
        self.assertEqual(
            set(payload),
            {"iss", "aud", "token_type", "user_id", "sub", "iat", "nbf", "exp", "auth_time", "jti"},
        )
        self.assertEqual((payload["user_id"], payload["sub"]), (7, "7"))
        self.assertEqual(payload["exp"] - payload["iat"], 30)
        self.assertEqual(payload["nbf"], payload["iat"])

    def test_issued_token_names_our_issuer_and_audience(self):
        token = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
        payload = jwt.decode(token, options={"verify_signature": False})
        self.assertEqual(
            (payload["iss"], payload["aud"]), (settings.JWT_ISSUER, settings.JWT_AUDIENCE)
        )

    def test_issued_token_is_rs256_by_default(self):
        token = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
        self.assertEqual(jwt.get_unverified_header(token)["alg"], "RS256")

    def test_an_es256_signing_key_signs_es256_tokens_that_decode(self):
        with override_settings(JWT_PRIVATE_KEY=EC_PEM):
            token = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
            self.assertEqual(jwt.get_unverified_header(token)["alg"], "ES256")
            self.assertEqual(tokens.decode_access_token(token, now=NOW).user_id, 7)

    def test_each_token_has_its_own_jti(self):
        first = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
        second = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
        self.assertNotEqual(
            tokens.decode_access_token(first, now=NOW).jti,
            tokens.decode_access_token(second, now=NOW).jti,
        )

    def test_expiry_is_judged_with_the_leeway(self):
        token = sign(claims())
        leeway = settings.JWT_LEEWAY
        cases = [
            ("at exp", NOW + LIFETIME, True),
            ("inside the leeway", NOW + LIFETIME + leeway - timedelta(seconds=1), True),
            ("at the end of the leeway", NOW + LIFETIME + leeway, False),
            ("long after", NOW + timedelta(days=1), False),
        ]
        for label, now, valid in cases:
            with self.subTest(label):
                if valid:
                    tokens.decode_access_token(token, now=now)
                else:
                    with self.assertRaisesRegex(InvalidAccessToken, "expired"):
                        tokens.decode_access_token(token, now=now)

    def test_token_issued_in_the_future_is_judged_with_the_leeway(self):
        leeway = int(settings.JWT_LEEWAY.total_seconds())
        issued = int(NOW.timestamp())
        tokens.decode_access_token(
            sign(claims(iat=issued + leeway, exp=issued + leeway + 30)), now=NOW
        )
        with self.assertRaisesRegex(InvalidAccessToken, "future"):
            tokens.decode_access_token(
                sign(claims(iat=issued + leeway + 1, exp=issued + leeway + 31)), now=NOW
            )

    def test_forged_or_foreign_tokens_are_rejected(self):
        valid = sign(claims())
        header, _payload, signature = valid.split(".")
        other_payload = sign(claims(user_id=1, sub="1")).split(".")[1]
        kid = keys.private_key(settings.JWT_PRIVATE_KEY).public.kid
        cases = {
            "alg none": jwt.encode(claims(), None, algorithm="none", headers={"kid": kid}),
            "RS384 with our key": sign(claims(), algorithm="RS384"),
            "RS512 with our key": sign(claims(), algorithm="RS512"),
            "PS256 with our key": sign(claims(), algorithm="PS256"),
            "another RSA key with our kid": sign(claims(), pem=OLD_PEM, kid=kid),
            "an EC key with our kid": sign(claims(), pem=EC_PEM, kid=kid),
            "swapped payload": f"{header}.{other_payload}.{signature}",
            "truncated signature": valid[:-4],
            "no kid": jwt.encode(
                claims(), keys.private_key(settings.JWT_PRIVATE_KEY).key, algorithm="RS256"
            ),
            "not a JWT": "not-a-token",
            "empty": "",
        }
        for label, token in cases.items():
            with self.subTest(label), self.assertRaises(InvalidAccessToken):
                tokens.decode_access_token(token, now=NOW)

    def test_an_hs256_token_made_with_any_key_we_hold_is_rejected(self):
        kid = keys.private_key(settings.JWT_PRIVATE_KEY).public.kid
        secrets = {
            "the private key's PEM": settings.JWT_PRIVATE_KEY.encode(),
            "the public key's PEM": keys.public_pem(settings.JWT_PRIVATE_KEY).encode(),
            "the Django secret key": settings.SECRET_KEY.encode(),
        }
        for label, secret in secrets.items():
            with self.subTest(label), self.assertRaises(InvalidAccessToken):
                tokens.decode_access_token(hs256(claims(), secret, kid), now=NOW)

    def test_a_token_for_another_issuer_or_audience_is_rejected(self):
        cases = {
            "another issuer": ({"iss": "https://evil.example.com"}, "(?i)issuer"),
            "another audience": ({"aud": "another-api"}, "(?i)audience"),
        }
        for label, (overrides, message) in cases.items():
            with self.subTest(label), self.assertRaisesRegex(InvalidAccessToken, message):
                tokens.decode_access_token(sign(claims(**overrides)), now=NOW)

    def test_a_token_not_valid_yet_is_judged_with_the_leeway(self):
        leeway = int(settings.JWT_LEEWAY.total_seconds())
        issued = int(NOW.timestamp())
        tokens.decode_access_token(sign(claims(nbf=issued + leeway)), now=NOW)
        with self.assertRaisesRegex(InvalidAccessToken, "not valid yet"):
            tokens.decode_access_token(sign(claims(nbf=issued + leeway + 1)), now=NOW)

    def test_checking_a_token_makes_no_database_query(self):
        token = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
        # SimpleTestCase refuses any query: a decode that made one would raise.
        self.assertEqual(tokens.decode_access_token(token, now=NOW).user_id, 7)

    def test_token_living_longer_than_the_largest_allowed_lifetime_is_rejected(self):
        issued = int(NOW.timestamp())
        longest = int(settings.ACCESS_TOKEN_MAX_LIFETIME.total_seconds())
        tokens.decode_access_token(sign(claims(exp=issued + longest)), now=NOW)
        for lifetime in (longest + 1, 10 * 365 * 86400):
            with (
                self.subTest(lifetime=lifetime),
                self.assertRaisesRegex(InvalidAccessToken, "lifetime"),
            ):
                tokens.decode_access_token(sign(claims(exp=issued + lifetime)), now=NOW)

    def test_token_of_another_type_is_rejected(self):
        with self.assertRaisesRegex(InvalidAccessToken, "not an access token"):
            tokens.decode_access_token(sign(claims(token_type="refresh")), now=NOW)

    def test_token_missing_a_required_claim_is_rejected(self):
        for name in tokens._REQUIRED_CLAIMS:
            with self.subTest(missing=name), self.assertRaises(InvalidAccessToken):
                tokens.decode_access_token(sign(claims(**{name: None})), now=NOW)

    def test_token_with_malformed_claims_is_rejected(self):
        cases = {
            "user_id as text": {"user_id": "7"},
            "user_id as bool": {"user_id": True, "sub": "True"},
            "sub not matching user_id": {"sub": "8"},
            "exp as float": {"exp": int(NOW.timestamp()) + 30.5},
            "auth_time as text": {"auth_time": "yesterday"},
            "auth_time after iat": {"auth_time": int(NOW.timestamp()) + 3600},
            "jti as a number": {"jti": 7},
        }
        for label, overrides in cases.items():
            with self.subTest(label), self.assertRaises(InvalidAccessToken):
                tokens.decode_access_token(sign(claims(**overrides)), now=NOW)

    def test_no_claim_value_a_signed_token_may_carry_is_a_crash(self):
        # Whoever holds the key may sign anything; the answer is still a clean refusal.
        huge = 10**20
        cases = {
            "exp past datetime's range": {"exp": huge},
            "iat past datetime's range": {"iat": huge, "exp": huge + 30},
            "negative iat": {"iat": -(10**12)},
            "auth_time past datetime's range": {"auth_time": huge},
            "user_id past a 64-bit key": {"user_id": 2**63, "sub": str(2**63)},
            "user_id zero": {"user_id": 0, "sub": "0"},
            "sid not a UUID": {"sid": "not-a-uuid"},
            "sid as a number": {"sid": 7},
            "sid as a list": {"sid": ["a"]},
        }
        for label, overrides in cases.items():
            with self.subTest(label), self.assertRaises(InvalidAccessToken):
                tokens.decode_access_token(sign(claims(**overrides)), now=NOW)

    def test_tokens_carry_when_the_session_checked_the_password_as_auth_time(self):
        checked = NOW - timedelta(hours=3)
        token = tokens.issue_access_token(
            user_id=7, lifetime=LIFETIME, now=NOW, authenticated_at=checked
        )
        self.assertEqual(
            jwt.decode(token, options={"verify_signature": False})["auth_time"],
            int(checked.timestamp()),
        )
        self.assertEqual(tokens.decode_access_token(token, now=NOW).authenticated_at, checked)


# RFC 7638 section 3.1's example key and its thumbprint.
RFC_7638_KEY = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
        "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGj"
        "QR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
        "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC_7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


class KeyIdTests(SimpleTestCase):
    def test_the_thumbprint_is_rfc_7638s_for_its_example_key(self):
        self.assertEqual(keys.thumbprint(RFC_7638_KEY), RFC_7638_THUMBPRINT)

    def test_tokens_name_their_key_by_the_thumbprint_of_its_public_jwk(self):
        token = tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)
        public = keys.private_key(settings.JWT_PRIVATE_KEY).public
        self.assertEqual(jwt.get_unverified_header(token)["kid"], keys.thumbprint(public.jwk))

    def test_an_ec_keys_thumbprint_is_over_crv_kty_x_y(self):
        jwk = keys.private_key(EC_PEM).public.jwk
        members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
        digest = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
        self.assertEqual(jwk["kid"], base64.urlsafe_b64encode(digest).rstrip(b"=").decode())

    def test_a_public_keys_pem_has_the_kid_of_its_private_key(self):
        self.assertEqual(
            keys.public_key(keys.public_pem(NEW_PEM)).kid, keys.private_key(NEW_PEM).public.kid
        )

    def test_an_rsa_key_under_2048_bits_is_refused(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        small = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with self.assertRaisesRegex(keys.InvalidKey, "2048"):
            keys.private_key(small.decode())

    def test_several_pems_in_one_value_are_split(self):
        both = keys.public_pem(OLD_PEM) + keys.public_pem(NEW_PEM)
        expected = [keys.public_pem(OLD_PEM).strip(), keys.public_pem(NEW_PEM).strip()]
        self.assertEqual(keys.split_pems(both), expected)
        self.assertEqual(len(keys.split_pems(both.replace("\n", "\\n"))), 2)


# In a fresh interpreter, as the Lambda init phase: settings, the URLconf (every view), the
# keys parsed; then a token signed and checked.
COLD_PATH = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "app.settings"
import django
django.setup()
from app.aws.snapstart import prepare_for_requests
prepare_for_requests()
from datetime import UTC, datetime, timedelta
from app.accounts import tokens
now = datetime.now(UTC)
token = tokens.issue_access_token(user_id=7, lifetime=timedelta(seconds=30), now=now)
tokens.decode_access_token(token, now=now)
loaded = [name for name in sys.modules if name.startswith("cryptography.x509.")]
print(type(sys.modules["cryptography.x509"]).__name__, loaded)
"""


@pytest.mark.slow
class ColdPathTests(SimpleTestCase):
    def test_signing_and_checking_never_load_pyjwts_certificate_module(self):
        environment = {
            **{name: value for name, value in os.environ.items() if not name.startswith("JWT_")},
            **random_keys(),
            "DJANGO_DEBUG": "false",
        }
        result = subprocess.run(
            [sys.executable, "-c", COLD_PATH],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(result.stdout.strip(), "_LazyModule []", result.stderr)


class SigningKeyRotationTests(SimpleTestCase):
    def issue(self):
        return tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)

    def test_a_token_signed_before_a_rotation_passes_until_the_old_key_is_dropped(self):
        with override_settings(JWT_PRIVATE_KEY=OLD_PEM, JWT_PREVIOUS_PUBLIC_KEYS=[]):
            before = self.issue()
        old_public = keys.public_pem(OLD_PEM)
        with override_settings(JWT_PRIVATE_KEY=NEW_PEM, JWT_PREVIOUS_PUBLIC_KEYS=[old_public]):
            self.assertEqual(tokens.decode_access_token(before, now=NOW).user_id, 7)
            after = self.issue()
            self.assertEqual(
                jwt.get_unverified_header(after)["kid"], keys.private_key(NEW_PEM).public.kid
            )
        with (
            override_settings(JWT_PRIVATE_KEY=NEW_PEM, JWT_PREVIOUS_PUBLIC_KEYS=[]),
            self.assertRaisesRegex(InvalidAccessToken, "unknown key"),
        ):
            tokens.decode_access_token(before, now=NOW)

    def test_a_token_of_the_announced_next_key_is_accepted_before_it_signs(self):
        # A second copy of the function may already sign with it while this one still
        # announces it: both must accept each other's tokens during the promotion.
        with override_settings(JWT_PRIVATE_KEY=NEXT_PEM):
            promoted = self.issue()
        with override_settings(JWT_PRIVATE_KEY=NEW_PEM, JWT_NEXT_PRIVATE_KEY=NEXT_PEM):
            self.assertEqual(tokens.decode_access_token(promoted, now=NOW).user_id, 7)
            kid = jwt.get_unverified_header(self.issue())["kid"]
            self.assertEqual(kid, keys.private_key(NEW_PEM).public.kid)

    def test_an_unknown_or_malformed_kid_is_refused(self):
        _, payload, signature = sign(claims()).split(".")
        for kid in ("0123456789abcdef", 7, ["a"], ""):
            header = {"alg": "RS256", "typ": "JWT", "kid": kid}
            encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
            with self.subTest(kid=kid), self.assertRaises(InvalidAccessToken):
                tokens.decode_access_token(f"{encoded}.{payload}.{signature}", now=NOW)


class SuccessorSealTests(SimpleTestCase):
    def test_a_seal_opens_with_the_token_it_was_sealed_for(self):
        presented, successor = tokens.new_refresh_token(), tokens.new_refresh_token()
        seal = tokens.seal_successor(presented=presented, successor=successor)
        self.assertEqual(tokens.open_seal(presented=presented, seal=seal), successor)

    def test_a_seal_says_nothing_of_the_successor_or_the_stored_digest(self):
        presented, successor = tokens.new_refresh_token(), tokens.new_refresh_token()
        seal = tokens.seal_successor(presented=presented, successor=successor)
        stored = tokens.refresh_token_digest(presented)
        self.assertNotIn(uuid.UUID(successor).hex, seal)
        self.assertNotIn(seal, stored)
        # Whoever holds only the database (the digest and the seal) opens it to nothing
        # that is the successor.
        from_the_digest = str(uuid.UUID(stored[:32]))
        self.assertNotEqual(tokens.open_seal(presented=from_the_digest, seal=seal), successor)

    def test_another_token_opens_the_seal_to_a_different_value(self):
        presented, successor = tokens.new_refresh_token(), tokens.new_refresh_token()
        seal = tokens.seal_successor(presented=presented, successor=successor)
        other = tokens.new_refresh_token()
        self.assertNotEqual(tokens.open_seal(presented=other, seal=seal), successor)


class PasswordStampTests(SimpleTestCase):
    def test_a_stamp_is_a_keyed_digest_that_changes_with_the_hash_and_the_key(self):
        first = tokens.password_stamps("argon2$one")[0]
        self.assertEqual(tokens.password_stamps("argon2$one")[0], first)
        self.assertNotEqual(tokens.password_stamps("argon2$two")[0], first)
        self.assertNotIn("argon2", first)
        with override_settings(SECRET_KEY="k" * 50):
            self.assertNotEqual(tokens.password_stamps("argon2$one")[0], first)

    def test_a_stamp_made_with_a_fallback_key_still_counts(self):
        old = tokens.password_stamps("argon2$one")[0]
        with override_settings(SECRET_KEY="k" * 50, SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
            self.assertEqual(tokens.password_stamps("argon2$one")[1], old)


class RefreshTokenTests(SimpleTestCase):
    def test_new_refresh_token_is_a_random_uuid4(self):
        token = tokens.new_refresh_token()
        self.assertEqual(uuid.UUID(token).version, 4)
        self.assertNotEqual(token, tokens.new_refresh_token())

    def test_digest_is_the_sha256_of_the_canonical_uuid(self):
        token = "D952527B-CAEF-452C-8C93-1100214F82E5"
        self.assertEqual(
            tokens.refresh_token_digest(token),
            hashlib.sha256(token.lower().encode()).hexdigest(),
        )

    def test_value_that_is_not_a_uuid_is_refused(self):
        for value in ("", "abc", "d952527b-caef-452c-8c93", None, 12):
            with self.subTest(value=value), self.assertRaises(tokens.InvalidRefreshTokenFormat):
                tokens.canonical_refresh_token(value)
