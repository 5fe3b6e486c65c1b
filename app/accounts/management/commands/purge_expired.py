from django.core.management.base import BaseCommand

from app.accounts import services


class Command(BaseCommand):
    help = (
        "Delete expired refresh tokens, sessions left without one (recording the end of those "
        "that ran out), expired mail tokens, ended throttle windows and security events past "
        "SECURITY_EVENT_RETENTION_DAYS. Used tokens are kept until they expire, so reuse is "
        "detected for their whole life."
    )

    def handle(self, *args, **options):
        deleted = services.purge()
        self.stdout.write(", ".join(f"{count} {name}" for name, count in deleted.items()))
