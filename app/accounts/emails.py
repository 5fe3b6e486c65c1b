"""The one canonical form of an e-mail address: what is stored, looked up and throttled.

Pure: no model, no request. Two spellings that a person would read as the same address
(case, fullwidth letters, a Unicode domain and its punycode) give the same string, so the
unique index on it holds against look-alikes.
"""

from __future__ import annotations

import re
import unicodedata

import idna

# Control, format (zero-width space, bidi marks), surrogate, private-use, unassigned and
# separator characters: nothing a person can see or mean in an address.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})


class InvalidEmail(ValueError):
    """The text cannot be an address we store; the message says why, for people."""


def canonical_email(value: str) -> str:
    """Return the stored form of ``value``: NFKC throughout; the local part case folded and
    unquoted where its quotes change nothing; the domain in IDNA ASCII, lower case.

    Raises ``InvalidEmail`` for invisible or space characters, a local part that is not ASCII
    after folding, or a domain that IDNA refuses. Text without ``@`` comes back folded only.
    """
    text = unicodedata.normalize("NFKC", value.strip())
    if any(unicodedata.category(char) in _INVISIBLE for char in text):
        raise InvalidEmail(
            "E-mail addresses may not contain invisible, control or space characters."
        )
    local, at, domain = text.rpartition("@")
    if not at:
        return _fold(text)
    local = _fold(local)
    if not local.isascii():
        # Django's validator lets case-insensitive look-alikes through (U+0131 dotless i
        # matches i); they stay non-ASCII after folding.
        raise InvalidEmail(
            "Before the @, use only ASCII letters, digits and the characters .!#$%&'*+/=?^_`{|}~-."
        )
    return f"{_unquoted(local)}@{_domain(domain)}"


def _fold(text: str) -> str:
    # Unicode's NFKC_Casefold: fold, then normalise again (folding can undo normalisation).
    return unicodedata.normalize("NFKC", text.casefold())


def _domain(domain: str) -> str:
    if domain.isascii():
        return domain.lower()
    try:
        # UTS 46 mapping, then IDNA 2008 (RFC 5891), the form DNS and mail servers use. Never
        # case folded first: folding turns sharp s into ss and final sigma into medial, names
        # IDNA 2008 keeps apart (faß.de is xn--fa-hia.de, not fass.de); the mapping lowers case.
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise InvalidEmail("The domain is not a valid internationalised domain name.") from None


# RFC 5322 section 3.2.3: atext, and a dot-atom of it.
_DOT_ATOM = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# RFC 5322 section 3.2.4: a quoted-string, each quoted-pair a backslash and one character.
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)


def _unquoted(local: str) -> str:
    # RFC 5322: the quotes are not part of the quoted-string (section 3.2.4) and a quoted-pair's
    # backslash is invisible (section 3.2.1), so "a"@ and "\a"@ are a@. Unquote what is then
    # a dot-atom; escape what must stay quoted only where it has to be (" and \), so that one
    # mailbox has one spelling.
    quoted = _QUOTED.fullmatch(local)
    if quoted is None:
        return local
    content = re.sub(r"\\(.)", r"\1", quoted[1], flags=re.DOTALL)
    if _DOT_ATOM.fullmatch(content):
        return content
    return '"' + re.sub(r'(["\\])', r"\\\1", content) + '"'
