"""``manage.py make_signing_key``: a key for access tokens, printed as a secrets entry."""

import io
import json
import tempfile
from pathlib import Path

from django.core.management import CommandError, call_command
from django.test import SimpleTestCase

from app.accounts import keys


def run(*arguments: str) -> tuple[dict, str]:
    """The command's entry (its fragment inside braces, parsed) and its kid line."""
    out, err = io.StringIO(), io.StringIO()
    call_command("make_signing_key", *arguments, stdout=out, stderr=err)
    return json.loads("{" + out.getvalue() + "}"), err.getvalue().strip()


class MakeSigningKeyTests(SimpleTestCase):
    def test_it_prints_an_rsa_2048_signing_key_entry_and_its_kid(self):
        entry, said = run()
        key = keys.private_key(entry["JWT_PRIVATE_KEY"])
        self.assertEqual((key.public.algorithm, key.key.key_size), ("RS256", 2048))
        self.assertEqual(said, f"kid: {key.public.kid}")

    def test_es256_makes_a_p256_key(self):
        entry, _ = run("--algorithm", "ES256")
        self.assertEqual(keys.private_key(entry["JWT_PRIVATE_KEY"]).public.algorithm, "ES256")

    def test_next_names_the_announced_key(self):
        entry, _ = run("--next")
        self.assertEqual(list(entry), ["JWT_NEXT_PRIVATE_KEY"])

    def test_each_run_makes_a_new_key(self):
        self.assertNotEqual(run()[0], run()[0])

    def test_public_of_prints_the_previous_public_key_entry_of_a_private_key(self):
        private = keys.generate()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "current.pem"
            path.write_text(private)
            entry, said = run("--public-of", str(path))
        (pem,) = keys.split_pems(entry["JWT_PREVIOUS_PUBLIC_KEYS"])
        self.assertNotIn("PRIVATE", pem)
        self.assertEqual(keys.public_key(pem).kid, keys.private_key(private).public.kid)
        self.assertEqual(said, f"kid: {keys.public_key(pem).kid}")

    def test_public_of_a_file_that_holds_no_key_fails_cleanly(self):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "nothing.pem"
            path.write_text("nothing")
            with self.assertRaises(CommandError):
                run("--public-of", str(path))
