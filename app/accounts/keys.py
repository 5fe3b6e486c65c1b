"""The asymmetric keys of access tokens: PEM in, key objects, JWKs and ``kid`` out.

Pure: no Django import, so ``app.settings`` can check the keys it reads. Each PEM is parsed
once per process (``functools.lru_cache``): the settings' check and the first token share it,
and the Lambda init phase pays for it before the snapshot.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field


def _import_on_first_use(name: str) -> None:
    """Put ``name`` in ``sys.modules`` as a module that loads on its first attribute read.

    PyJWT imports ``cryptography.x509`` (certificates, about 15 ms of the Lambda init phase)
    for keys handed in as certificates; ours are key objects, so it never reads it."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    # Bound on its package too, so that ``from package import name`` reads no attribute of it
    # (the import system would read its __spec__, which loads it).
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


_import_on_first_use("cryptography.x509")

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402

# RS256 (RSASSA-PKCS1-v1_5 with SHA-256) and ES256 (ECDSA P-256 with SHA-256), RFC 7518
# section 3.1. API Gateway's HTTP API JWT authorizer takes RSA only, hence the default.
ALGORITHMS = ("RS256", "ES256")
DEFAULT_ALGORITHM = "RS256"
# NIST SP 800-131A and RFC 7518 section 3.3: an RSA key of 2048 bits or larger.
MIN_RSA_BITS = 2048
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)
# RFC 7638 section 3.2: the members of a thumbprint's JWK, in lexicographic order.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


class InvalidKey(ValueError):
    """A PEM that is not a key we can sign or verify with (the message says why)."""


@dataclass(frozen=True)
class PublicKey:
    """A key that verifies tokens: its algorithm, RFC 7638 ``kid`` and public JWK."""

    key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    algorithm: str
    kid: str
    jwk: dict = field(hash=False, compare=False)


@dataclass(frozen=True)
class PrivateKey:
    """A key that signs tokens, with its public half."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    public: PublicKey


def split_pems(value: str) -> list[str]:
    """The PEM blocks in ``value`` (keys one after another, as a secrets entry holds them);
    a literal ``\\n`` stands for a line break, as some tools write one in a variable."""
    return [match.group(0) for match in _PEM_BLOCK.finditer(value.replace("\\n", "\n"))]


def _base64url_uint(number: int) -> str:
    length = max(1, (number.bit_length() + 7) // 8)
    return base64.urlsafe_b64encode(number.to_bytes(length, "big")).rstrip(b"=").decode()


def _public(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> PublicKey:
    """Describe a public key: its algorithm, JWK (RFC 7518 section 6) and thumbprint."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidKey(
                f"An RSA key must have at least {MIN_RSA_BITS} bits, not {key.key_size}."
            )
        numbers = key.public_numbers()
        jwk = {"kty": "RSA", "n": _base64url_uint(numbers.n), "e": _base64url_uint(numbers.e)}
        algorithm = "RS256"
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        numbers = key.public_numbers()
        # RFC 7518 section 6.2.1.2: each coordinate the full size of the curve, 32 bytes.
        x, y = (
            base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()
            for value in (numbers.x, numbers.y)
        )
        jwk = {"kty": "EC", "crv": "P-256", "x": x, "y": y}
        algorithm = "ES256"
    else:
        raise InvalidKey("A key must be RSA (2048 bits or more) or EC on P-256.")
    kid = thumbprint(jwk)
    return PublicKey(key, algorithm, kid, {**jwk, "kid": kid, "alg": algorithm, "use": "sig"})


def thumbprint(jwk: dict) -> str:
    """The RFC 7638 JWK thumbprint of a public key: SHA-256 of its required members as compact
    JSON in lexicographic order, base64url without padding."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


@functools.lru_cache(maxsize=8)
def private_key(pem: str) -> PrivateKey:
    """Parse a private key in PEM (PKCS #8 or traditional); raise ``InvalidKey`` if it is not
    one we sign with."""
    try:
        key = serialization.load_pem_private_key(
            pem.replace("\\n", "\n").encode(),
            None,
            # OpenSSL's check of an RSA key's primes takes about 30 ms of every cold start; the
            # key is the stage's own (make_signing_key), and the signature checked below, as
            # OpenSSL checks every CRT signature, shows that it signs for its public half.
            unsafe_skip_rsa_key_validation=True,
        )
    except (ValueError, TypeError) as error:
        raise InvalidKey(f"Not a private key in PEM without a password: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidKey("A key must be RSA (2048 bits or more) or EC on P-256.")
    public = _public(key.public_key())
    _check_pair(key)
    return PrivateKey(key, public)


def _check_pair(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
    """Sign a probe and verify it with the public half (about a millisecond): a private key
    whose values do not fit together is refused."""
    probe = b"app.accounts.keys probe"
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(probe, padding.PKCS1v15(), hashes.SHA256())
            key.public_key().verify(signature, probe, padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = key.sign(probe, ec.ECDSA(hashes.SHA256()))
            key.public_key().verify(signature, probe, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as error:
        raise InvalidKey(f"The private key does not sign for its public key: {error}") from None


@functools.lru_cache(maxsize=16)
def public_key(pem: str) -> PublicKey:
    """Parse a public key in PEM (SubjectPublicKeyInfo), or the public half of a private one."""
    if "PRIVATE KEY-----" in pem:
        return private_key(pem).public
    try:
        key = serialization.load_pem_public_key(pem.replace("\\n", "\n").encode())
    except (ValueError, TypeError) as error:
        raise InvalidKey(f"Not a public key in PEM: {error}") from None
    return _public(key)  # type: ignore[arg-type]


def generate(algorithm: str = DEFAULT_ALGORITHM) -> str:
    """A new private key for ``algorithm`` (RSA 2048 for RS256, P-256 for ES256), as PKCS #8
    PEM."""
    if algorithm == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    elif algorithm == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise InvalidKey(
            f"The algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}."
        )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(private_pem: str) -> str:
    """The public half of a private key, as SubjectPublicKeyInfo PEM."""
    return (
        private_key(private_pem)
        .key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
