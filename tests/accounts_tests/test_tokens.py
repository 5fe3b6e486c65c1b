"""``app/accounts/tokens.py``: access JWTs and refresh-token digests, with no database."""

import base64
import hashlib
import json
import uuid
import warnings
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings
from django.test import SimpleTestCase, override_settings

from app.accounts import tokens
from app.accounts.errors import InvalidAccessToken

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(seconds=30)


def claims(**overrides):
    issued = int(NOW.timestamp())
    base = {
        "token_type": "access",
        "user_id": 7,
        "sub": "7",
        "iat": issued,
        "exp": issued + 30,
        "auth_time": issued,
        "jti": "abc",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(payload, key=None, algorithm="HS256"):
    with warnings.catch_warnings():
        # Forging an HS512 token with our 256-bit key is the point of one test.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(payload, key or settings.JWT_SIGNING_KEY, algorithm=algorithm)


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
            set(payload), {"token_type", "user_id", "sub", "iat", "exp", "auth_time", "jti"}
        )
        self.assertEqual((payload["user_id"], payload["sub"]), (7, "7"))
        self.assertEqual(payload["exp"] - payload["iat"], 30)
        self.assertEqual(jwt.get_unverified_header(token)["alg"], "HS256")

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
        cases = {
            "alg none": jwt.encode(claims(), None, algorithm="none"),
            "HS384 with our key": sign(claims(), algorithm="HS384"),
            "HS512 with our key": sign(claims(), algorithm="HS512"),
            "another key": sign(claims(), key="x" * 40),
            "swapped payload": f"{header}.{other_payload}.{signature}",
            "truncated signature": valid[:-4],
            "not a JWT": "not-a-token",
            "empty": "",
        }
        for label, token in cases.items():
            with self.subTest(label), self.assertRaises(InvalidAccessToken):
                tokens.decode_access_token(token, now=NOW)

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
        for name in ("token_type", "user_id", "sub", "iat", "exp", "auth_time", "jti"):
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


OLD_KEY, NEW_KEY = "o" * 40, "n" * 40


class SigningKeyRotationTests(SimpleTestCase):
    def issue(self):
        return tokens.issue_access_token(user_id=7, lifetime=LIFETIME, now=NOW)

    def test_tokens_name_the_key_that_signed_them_by_its_digest(self):
        header = jwt.get_unverified_header(self.issue())
        self.assertEqual(header["kid"], tokens.key_id(settings.JWT_SIGNING_KEY))
        self.assertNotIn(settings.JWT_SIGNING_KEY[:8], header["kid"])

    def test_a_token_signed_before_a_rotation_passes_until_the_old_key_is_dropped(self):
        with override_settings(JWT_SIGNING_KEY=OLD_KEY, JWT_PREVIOUS_SIGNING_KEYS=[]):
            before = self.issue()
        with override_settings(JWT_SIGNING_KEY=NEW_KEY, JWT_PREVIOUS_SIGNING_KEYS=[OLD_KEY]):
            self.assertEqual(tokens.decode_access_token(before, now=NOW).user_id, 7)
            after = self.issue()
            self.assertEqual(jwt.get_unverified_header(after)["kid"], tokens.key_id(NEW_KEY))
        with (
            override_settings(JWT_SIGNING_KEY=NEW_KEY, JWT_PREVIOUS_SIGNING_KEYS=[]),
            self.assertRaisesRegex(InvalidAccessToken, "unknown key"),
        ):
            tokens.decode_access_token(before, now=NOW)

    def test_an_unknown_or_malformed_kid_is_refused(self):
        _, payload, signature = sign(claims()).split(".")
        for kid in ("0123456789abcdef", 7, ["a"]):
            header = {"alg": "HS256", "typ": "JWT", "kid": kid}
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
