"""``devtools.mailbox`` against what Django's ``file`` backend really writes: the live tests
read every token they use this way."""

import tempfile

from django.test import SimpleTestCase, override_settings

from app.accounts import mail
from devtools.mailbox import Mailbox

TOKEN = "A" * 21 + "-_" + "b" * 20


class MailboxTests(SimpleTestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        settings = override_settings(
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=folder.name,
        )
        settings.enable()
        self.addCleanup(settings.disable)
        self.mailbox = Mailbox(folder.name)

    def send(self, kind, to="user@example.com", token=TOKEN):
        mail.send(
            kind=kind, to=to, token=token, base_url="http://testserver/dev", lifetime="1 hour"
        )

    def test_each_kind_of_message_gives_its_recipient_its_kind_and_its_links_token(self):
        for kind in ("password_reset", "verify_email", "email_changed"):
            with self.subTest(kind=kind):
                self.send(kind)
                message = self.mailbox.take_one(to="user@example.com", kind=kind)
                self.assertEqual(message.token, TOKEN)
                self.assertTrue(message.link.startswith("http://testserver/dev/"))
                self.assertTrue(message.mentions(TOKEN))

    def test_take_hands_out_each_message_once_and_only_those_to_the_address_asked(self):
        self.send("password_reset", to="one@example.com")
        self.send("verify_email", to="two@example.com")
        self.assertEqual(
            [m.to for m in self.mailbox.take(to="two@example.com")], [("two@example.com",)]
        )
        self.assertEqual([m.to for m in self.mailbox.take()], [("one@example.com",)])
        self.assertEqual(self.mailbox.take(), [])
        self.assertEqual(len(self.mailbox.messages()), 2)

    def test_a_message_still_being_written_is_not_read(self):
        self.send("password_reset")
        (file,) = self.mailbox.path.glob("*.log")
        with file.open("ab") as stream:
            stream.write(b"Subject: half\nTo: late@example.com\n\nno separator yet")
        self.assertEqual(len(self.mailbox.messages()), 1)
