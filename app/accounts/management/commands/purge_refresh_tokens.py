from django.core.management.base import BaseCommand

from app.accounts import services


class Command(BaseCommand):
    help = "Delete expired refresh tokens, and used or revoked ones past the retention period."

    def handle(self, *args, **options):
        deleted = services.purge_refresh_tokens()
        self.stdout.write(f"Deleted {deleted} refresh tokens.")
