"""The one canonical form of an e-mail address: what is stored, looked up and throttled.

Pure: no model, no request. Two spellings that a person would read as the same address
(case, fullwidth letters, a Unicode domain and its punycode) give the same string, so the
unique index on it holds against look-alikes.
"""

from __future__ import annotations

import unicodedata

import idna

# Control, format (zero-width space, bidi marks), surrogate, private-use, unassigned and
# separator characters: nothing a person can see or mean in an address.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})


class InvalidEmail(ValueError):
    """The text cannot be an address we store; the message says why, for people."""


def canonical_email(value: str) -> str:
    """Return the stored form of ``value``: NFKC, case folded, the domain in IDNA ASCII.

    Raises ``InvalidEmail`` for invisible or space characters, a local part that is not ASCII
    after folding, or a domain that IDNA refuses. Text without ``@`` comes back folded only.
    """
    text = unicodedata.normalize("NFKC", value.strip())
    if any(unicodedata.category(char) in _INVISIBLE for char in text):
        raise InvalidEmail(
            "E-mail addresses may not contain invisible, control or space characters."
        )
    # Unicode's NFKC_Casefold: fold, then normalise again (folding can undo normalisation).
    text = unicodedata.normalize("NFKC", text.casefold())
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    if not local.isascii():
        # Django's validator lets case-insensitive look-alikes through (U+0131 dotless i
        # matches i); they stay non-ASCII after folding.
        raise InvalidEmail(
            "Before the @, use only ASCII letters, digits and the characters .!#$%&'*+/=?^_`{|}~-."
        )
    if not domain.isascii():
        try:
            # UTS 46 with IDNA 2008: the form DNS and mail servers use (RFC 5891).
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise InvalidEmail("The domain is not a valid internationalised domain name.") from None
    return f"{local}@{domain}"
