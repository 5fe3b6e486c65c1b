"""The messages a server wrote with Django's ``file`` mail backend (``DJANGO_EMAIL_BACKEND=file``
into ``DJANGO_EMAIL_FILE_PATH``), read back as a person's inbox would show them: who each went
to, its subject, its text, and the link it carries with that link's token.

The backend writes one file per connection (``YYYYmmdd-HHMMSS-<id>.log``) and appends each
message to it followed by a line of 79 dashes; a file may hold several messages (an id reused
within the second), and worker processes write side by side. A ``Mailbox`` reads them all each
time and hands out each message once through ``take``.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SEPARATOR = b"\n" + b"-" * 79 + b"\n"
# The pages the accounts app's messages link (app/accounts/mail.py), by the kind of message.
PAGES = {
    "/password/reset/": "password_reset",
    "/email/verify/": "verify_email",
    "/email/revert/": "email_changed",
}
LINK = re.compile(r"https?://[^\s\"'<>]+\?token=[A-Za-z0-9_\-%]+")


@dataclass(frozen=True)
class Mail:
    """One message as written: its recipients, subject, plain text and HTML, and where it was
    found (file and position, which order the messages of one file)."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    source: tuple[str, int]

    @property
    def link(self) -> str:
        """The one link with a token the plain text carries (``AssertionError`` if not one)."""
        return link_in(self.text)

    @property
    def kind(self) -> str:
        """``password_reset``, ``verify_email`` or ``email_changed``, from the page it links."""
        return PAGES[_page(self.link)]

    @property
    def token(self) -> str:
        """The token in the message's link."""
        return token_in(self.text)

    def mentions(self, value: str) -> bool:
        """Whether ``value`` appears anywhere in the message (text, HTML or subject)."""
        return any(value in part for part in (self.subject, self.text, self.html))


class Mailbox:
    """``Mailbox(path).take()``: the messages written to ``path`` since the last ``take``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._taken: set[tuple[str, int]] = set()
        # Each file's bytes read so far and the messages in them: files only ever grow.
        self._read: dict[str, tuple[int, list[Mail]]] = {}

    def messages(self) -> list[Mail]:
        """Every complete message in the directory, the oldest files first."""
        if not self.path.is_dir():
            return []
        found = []
        files = sorted(
            ((file.stat(), file) for file in self.path.glob("*.log")),
            key=lambda entry: (entry[0].st_mtime_ns, entry[1].name),
        )
        for stat, file in files:
            size, mails = self._read.get(file.name, (-1, []))
            if stat.st_size != size:
                content = file.read_bytes()
                chunks = content.split(SEPARATOR)
                # The last chunk is what follows the last separator: empty, or a message
                # still being written.
                mails = [
                    _parse(chunk, source=(file.name, position))
                    for position, chunk in enumerate(chunks[:-1])
                ]
                self._read[file.name] = (len(content), mails)
            found.extend(mails)
        return found

    def take(self, *, to: str | None = None) -> list[Mail]:
        """The messages not taken before (those to ``to`` only, when given); they are taken."""
        fresh = [
            mail
            for mail in self.messages()
            if mail.source not in self._taken and (to is None or to in mail.to)
        ]
        self._taken.update(mail.source for mail in fresh)
        return fresh

    def take_one(self, *, to: str, kind: str | None = None) -> Mail:
        """The one message to ``to`` not taken before (``AssertionError`` if none or more), of
        ``kind`` when given."""
        fresh = self.take(to=to)
        assert len(fresh) == 1, (to, [mail.subject for mail in fresh])
        if kind is not None:
            assert fresh[0].kind == kind, (to, fresh[0].kind, kind)
        return fresh[0]


def link_in(text: str) -> str:
    """The one link with a token in a message's ``text`` (``AssertionError`` if not one)."""
    links = set(LINK.findall(text))
    assert len(links) == 1, links
    return links.pop()


def token_in(text: str) -> str:
    """The token of the one link in a message's ``text`` (any backend's: ``mail.outbox``'s
    bodies as well)."""
    return parse_qs(urlsplit(link_in(text)).query)["token"][0]


def _parse(raw: bytes, *, source: tuple[str, int]) -> Mail:
    message = email.message_from_bytes(raw.lstrip(b"\n"), policy=email.policy.default)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return Mail(
        to=tuple(address.strip() for address in str(message["To"] or "").split(",")),
        subject=str(message["Subject"] or ""),
        text=text.get_content() if text is not None else "",
        html=html.get_content() if html is not None else "",
        source=source,
    )


def _page(link: str) -> str:
    path = urlsplit(link).path
    for page in PAGES:
        if path.endswith(page):
            return page
    raise AssertionError(f"no page of ours: {link}")
