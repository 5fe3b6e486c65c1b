"""``manage.py make_signing_key``: a new key for access tokens, as a secrets entry."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from app.accounts import keys


class Command(BaseCommand):
    help = (
        "Make a private key for access tokens (RSA 2048 for RS256, EC P-256 for ES256) and "
        "print the entry for the stage's secrets.json (JSON, on stdout) and its kid (on "
        "stderr). --next names it JWT_NEXT_PRIVATE_KEY, the first step of a rotation "
        "(docs/security.md); --public-of FILE prints instead the JWT_PREVIOUS_PUBLIC_KEYS "
        "entry of the private key in FILE, for when it stops signing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--algorithm", choices=keys.ALGORITHMS, default="RS256")
        parser.add_argument(
            "--next",
            action="store_true",
            help="name it JWT_NEXT_PRIVATE_KEY: published, not yet signing",
        )
        parser.add_argument(
            "--public-of",
            metavar="FILE",
            type=Path,
            help="print the public key of the private key in FILE (PEM) instead",
        )

    def handle(self, *args, algorithm, next, public_of, **options):
        if public_of is not None:
            try:
                pem = keys.public_pem(public_of.read_text())
            except (OSError, keys.InvalidKey) as error:
                raise CommandError(str(error)) from None
            entry = {"JWT_PREVIOUS_PUBLIC_KEYS": pem}
        else:
            pem = keys.generate(algorithm)
            entry = {"JWT_NEXT_PRIVATE_KEY" if next else "JWT_PRIVATE_KEY": pem}
        # A fragment to paste into the stage's secrets.json, without its braces.
        self.stdout.write(json.dumps(entry, indent=2)[2:-2])
        self.stderr.write(f"kid: {keys.public_key(pem).kid}")
