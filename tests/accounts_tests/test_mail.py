"""``app/accounts/mail.py``: each message in plain text and HTML, from one layout."""

from datetime import timedelta

from django.core import mail as outbox
from django.test import SimpleTestCase, override_settings

from app.accounts import mail, recovery

TOKEN = "Jx3kQb0t2mV9wYp4sLr8uEc6nHa1dZf5gTi7oKq0-_A"


@override_settings(PRODUCT_NAME="Acme Login")
class MessageTests(SimpleTestCase):
    def send(self, kind):
        outbox.outbox.clear()
        mail.send(
            kind=kind,
            to="user@example.com",
            token=TOKEN,
            base_url="https://id.example/dev/",
            lifetime="1 hour",
        )
        (message,) = outbox.outbox
        return message, message.alternatives[0]

    def test_every_message_has_the_product_the_link_the_token_and_what_if_it_wasnt_you(self):
        pages = {
            "password_reset": "password/reset",
            "verify_email": "email/verify",
            "email_changed": "email/revert",
        }
        for kind, page in pages.items():
            with self.subTest(kind):
                message, (html, mimetype) = self.send(kind)
                self.assertEqual(mimetype, "text/html")
                self.assertTrue(message.subject.startswith("Acme Login: "))
                link = f"https://id.example/dev/{page}/?token={TOKEN}"
                for body in (message.body, html):
                    self.assertIn("Acme Login", body)
                    self.assertIn(link, body)
                    self.assertIn("wasn", body)
                self.assertIn(f'href="{link}"', html)
                self.assertEqual(message.to, ["user@example.com"])

    def test_the_plain_text_is_not_html_escaped_and_the_html_is(self):
        with override_settings(PRODUCT_NAME="Tom & Jerry <Login>"):
            message, (html, _) = self.send("password_reset")
        self.assertIn("Tom & Jerry <Login>", message.body)
        self.assertIn("Tom &amp; Jerry &lt;Login&gt;", html)
        self.assertNotIn("<Login>", html)

    def test_messages_come_from_the_default_sender(self):
        with override_settings(DEFAULT_FROM_EMAIL="Acme <auth@acme.example>"):
            message, _ = self.send("verify_email")
        self.assertEqual(message.from_email, "Acme <auth@acme.example>")


class SpokenDurationTests(SimpleTestCase):
    def test_durations_read_as_people_say_them(self):
        for duration, said in (
            (timedelta(hours=1), "1 hour"),
            (timedelta(days=7), "7 days"),
            (timedelta(minutes=90), "90 minutes"),
            (timedelta(minutes=1), "1 minute"),
            (timedelta(seconds=61), "1 minute"),
        ):
            with self.subTest(duration):
                self.assertEqual(recovery.spoken(duration), said)
