"""Account recovery as its users meet it, through a live server that mails with the ``file``
backend: every token used here is read from a message the server wrote (``server.mailbox``).

Register and verify; reset the password by mail; change the e-mail (the old address is told,
the new one gets its link); "this wasn't me" (the address back, every session over, a reset
needed); the reset answer the same for any address; the mail throttle; a mail server down.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

import pytest

from devtools import PASSWORD
from devtools.http import Reply, request
from devtools.live_server import LiveServer

pytestmark = pytest.mark.system


@dataclass
class Api:
    """The server's API and its mail, as a client with an inbox sees them."""

    server: LiveServer

    def call(self, method: str, path: str, body=None, bearer: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return request(f"{self.server.url}{path}", method, body, headers)

    def post(self, path: str, body=None, bearer: str | None = None) -> Reply:
        return self.call("POST", path, body if body is not None else {}, bearer)

    def register(self, password: str = PASSWORD, *, verify: bool = False) -> str:
        """A new account's e-mail, its verification mail taken (and its link followed)."""
        email = f"owner-{uuid.uuid4().hex[:12]}@example.com"
        answer = self.post("/api/register/", {"email": email, "password": password})
        assert answer.status == 201, answer.content
        message = self.server.mailbox.take_one(to=email, kind="verify_email")
        if verify:
            answer = self.post("/api/email/verify/", {"token": message.token})
            assert answer.status == 200, answer.content
        return email

    def login(self, email: str, password: str = PASSWORD) -> dict:
        answer = self.post("/api/login/", {"email": email, "password": password})
        assert answer.status == 200, answer.content
        return answer.json()

    def refresh(self, pair: dict) -> Reply:
        return self.post("/api/refresh/", {"refresh_token": pair["refresh_token"]})

    def email_status(self, pair: dict) -> dict:
        answer = self.call("GET", "/api/me/email/", bearer=pair["access_token"])
        assert answer.status == 200, answer.content
        return answer.json()


@pytest.fixture(scope="module")
def api():
    """One server for the flows of this module, each on accounts of its own."""
    with LiveServer("recovery") as server:
        yield Api(server)


def code(answer: Reply) -> tuple[int, str]:
    return answer.status, answer.json().get("code")


def test_a_new_account_verifies_its_address_with_the_link_it_was_mailed(api):
    email = f"new-{uuid.uuid4().hex[:12]}@example.com"
    assert api.post("/api/register/", {"email": email, "password": PASSWORD}).status == 201
    message = api.server.mailbox.take_one(to=email, kind="verify_email")
    assert message.link == f"{api.server.url}/email/verify/?token={message.token}"
    pair = api.login(email)
    assert api.email_status(pair)["email_verified"] is False

    answer = api.post("/api/email/verify/", {"token": message.token})
    assert answer.status == 200, answer.content
    assert answer.json()["email"] == email
    status = api.email_status(pair)
    assert (status["email"], status["email_verified"], status["pending_email"]) == (email, True, "")
    assert status["email_verified_at"]
    # The link works once.
    again = api.post("/api/email/verify/", {"token": message.token})
    assert code(again) == (400, "invalid_verification_token")


def test_a_reset_by_mail_ends_every_session_and_starts_one_on_the_new_password(api):
    email = api.register()
    sessions = [api.login(email), api.login(email)]
    assert api.post("/api/password/reset/", {"email": email}).status == 202
    message = api.server.mailbox.take_one(to=email, kind="password_reset")
    assert message.link == f"{api.server.url}/password/reset/?token={message.token}"

    new_password = "a-new-phrase-by-mail"
    answer = api.post(
        "/api/password/reset/confirm/", {"token": message.token, "new_password": new_password}
    )
    assert answer.status == 200, answer.content
    fresh = answer.json()
    assert set(fresh) == {"access_token", "refresh_token"}
    for old in sessions:
        assert api.refresh(old).status == 401
    following = api.refresh(fresh)
    assert following.status == 200, following.content
    me = api.call("GET", "/api/me/", bearer=following.json()["access_token"])
    assert (me.status, me.json()["email"]) == (200, email)
    assert api.post("/api/login/", {"email": email, "password": PASSWORD}).status == 401
    api.login(email, new_password)
    again = api.post(
        "/api/password/reset/confirm/", {"token": message.token, "new_password": "yet-another-1"}
    )
    assert code(again) == (400, "invalid_reset_token")


def test_an_email_change_tells_the_old_address_and_mails_the_new_one_its_link(api):
    old = api.register(verify=True)
    new = f"moved-{uuid.uuid4().hex[:12]}@example.net"
    pair = api.login(old)
    # Right after a login: no password needed.
    answer = api.call("PUT", "/api/me/", {"email": new}, bearer=pair["access_token"])
    assert (answer.status, answer.json()["email"]) == (200, new), answer.content

    notice = api.server.mailbox.take_one(to=old, kind="email_changed")
    assert notice.link == f"{api.server.url}/email/revert/?token={notice.token}"
    mailed_to_new = api.server.mailbox.take(to=new)
    # Never the new address's token in what the old address gets.
    for message in mailed_to_new:
        assert not notice.mentions(message.token)
    assert [message.kind for message in mailed_to_new] == ["verify_email"], (
        "no link for the new address"
    )
    status = api.email_status(pair)
    assert (status["email"], status["email_verified"]) == (new, False)
    verified = api.post("/api/email/verify/", {"token": mailed_to_new[0].token})
    assert verified.status == 200, verified.content


def test_this_wasnt_me_gives_the_address_back_ends_every_session_and_needs_a_reset(api):
    old = api.register()
    mine, theirs = api.login(old), api.login(old)
    new = f"taken-{uuid.uuid4().hex[:12]}@example.net"
    answer = api.call("PUT", "/api/me/", {"email": new}, bearer=theirs["access_token"])
    assert answer.status == 200, answer.content
    notice = api.server.mailbox.take_one(to=old, kind="email_changed")
    api.server.mailbox.take(to=new)

    answer = api.post("/api/email/revert/", {"token": notice.token})
    assert answer.status == 200, answer.content
    for pair in (mine, theirs):
        assert api.refresh(pair).status == 401
    # The password may be known to whoever changed the address: it logs in nowhere.
    for email in (old, new):
        answer = api.post("/api/login/", {"email": email, "password": PASSWORD})
        assert code(answer) == (401, "invalid_credentials")
    reset = api.server.mailbox.take_one(to=old, kind="password_reset")
    assert api.server.mailbox.take(to=new) == []

    answer = api.post(
        "/api/password/reset/confirm/", {"token": reset.token, "new_password": "mine-again-99"}
    )
    assert answer.status == 200, answer.content
    status = api.email_status(api.login(old, "mine-again-99"))
    assert (status["email"], status["email_verified"]) == (old, True)
    again = api.post("/api/email/revert/", {"token": notice.token})
    assert code(again) == (400, "invalid_revert_token")


def comparable(answer: Reply) -> tuple:
    """An answer as a client can compare it: status, headers less ``Date``, body."""
    headers = sorted((name.lower(), value) for name, value in answer.headers.items())
    return answer.status, [header for header in headers if header[0] != "date"], answer.content


def test_known_unknown_and_inactive_addresses_get_byte_identical_reset_answers(api):
    known, inactive = api.register(), api.register()
    api.server.manage(
        "shell",
        "-c",
        "from app.accounts.models import User; "
        f"User.objects.filter(email={inactive!r}).update(is_active=False)",
    )
    unknown = f"nobody-{uuid.uuid4().hex[:12]}@example.com"
    answers = {
        email: comparable(api.post("/api/password/reset/", {"email": email}))
        for email in (known, unknown, inactive)
    }
    assert answers[known][0] == 202
    assert answers[unknown] == answers[known]
    assert answers[inactive] == answers[known]
    # Only the active account was mailed.
    assert [message.kind for message in api.server.mailbox.take()] == ["password_reset"]


@pytest.mark.live(MAIL_THROTTLE_PER_EMAIL="2", MAIL_THROTTLE_PER_ADDRESS="4")
def test_the_mail_throttle_answers_429_with_retry_after_past_each_limit(api_server):
    api = Api(api_server)
    email = api.register()

    def reset(address):
        return api.post("/api/password/reset/", {"email": address})

    # Per e-mail: two messages an hour, whoever asks.
    assert [reset(email).status for _ in range(2)] == [202, 202]
    refused = reset(email)
    assert code(refused) == (429, "throttled")
    assert 1 <= int(refused.header("Retry-After")) <= 3600
    assert len(api.server.mailbox.take(to=email)) == 2
    # Per address: four an hour (the refused one was given back), whichever e-mails.
    assert [reset(f"other-{n}@example.com").status for n in range(2)] == [202, 202]
    refused = reset("one-more@example.com")
    assert code(refused) == (429, "throttled")
    assert 1 <= int(refused.header("Retry-After")) <= 3600


@pytest.fixture(scope="module")
def mail_down():
    """A server whose SMTP server refuses every connection (a port bound here, never
    listening)."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        with LiveServer(
            "mail_down",
            DJANGO_EMAIL_BACKEND="smtp",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(bound.getsockname()[1]),
            EMAIL_TIMEOUT="2",
        ) as server:
            yield Api(server)


def test_with_the_mail_server_down_a_registration_stands_or_leaves_no_account(mail_down):
    email = f"owner-{uuid.uuid4().hex[:12]}@example.com"
    registered = mail_down.post("/api/register/", {"email": email, "password": PASSWORD})
    again = mail_down.post("/api/register/", {"email": email, "password": PASSWORD})
    # Either the account exists and was said to (201), or it failed and a retry can make it.
    assert registered.status == 201 or again.status == 201, (registered.content, again.content)


def test_with_the_mail_server_down_the_reset_answer_still_tells_no_address_from_another(
    mail_down,
):
    email = f"owner-{uuid.uuid4().hex[:12]}@example.com"
    mail_down.server.manage(
        "shell",
        "-c",
        "from app.accounts.models import User; "
        f"User.objects.create_user(email={email!r}, password={PASSWORD!r})",
    )
    known = comparable(mail_down.post("/api/password/reset/", {"email": email}))
    unknown = comparable(mail_down.post("/api/password/reset/", {"email": "nobody@example.com"}))
    assert unknown[0] == 202
    assert known == unknown
