"""Report a Lambda zip's sizes and refuse one Lambda would not take or could not run.

Checks: Lambda's size limits, the files the function needs, no compiled library needing a
glibc newer than Amazon Linux 2023's 2.34 (the python3.13 runtime's), and no secret-looking
settings file.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile

ZIPPED_LIMIT = 50 * 1024 * 1024  # direct upload; Zappa goes through S3, but stay under it
UNZIPPED_LIMIT = 250 * 1024 * 1024
REQUIRED = [
    "handler.py",
    "zappa_settings.py",
    "app/settings.py",
    "app/accounts/views.py",
    "django/__init__.py",
    "staticfiles/staticfiles.json",
    "psycopg2/__init__.py",
    # Mail: the backend, the messages' templates and the page their links open.
    "django_ses/__init__.py",
    "app/accounts/templates/accounts/mail/base.txt",
    "app/accounts/templates/accounts/mail/base.html",
    "app/templates/account_link.html",
]
# The runtime provides these (and the tests' tools have no business in the function).
BANNED = ["boto3", "botocore", "s3transfer", "pytest", "moto"]
GLIBC = re.compile(rb"GLIBC_2\.(\d+)")
GLIBC_MINOR = 34


def main(path: str) -> int:
    """Print the report; exit 1 on any problem."""
    problems = []
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        names = {entry.filename for entry in entries}
        unzipped = sum(entry.file_size for entry in entries)
        newest_glibc = 0
        for entry in entries:
            if ".so" in entry.filename.rsplit("/", 1)[-1]:
                versions = [int(v) for v in GLIBC.findall(archive.read(entry))]
                if versions and max(versions) > GLIBC_MINOR:
                    problems.append(f"{entry.filename} needs GLIBC_2.{max(versions)}")
                newest_glibc = max([newest_glibc, *versions])
        pyc = sum(1 for name in names if name.endswith(".pyc"))
        for required in REQUIRED:
            if required not in names:
                problems.append(f"missing {required}")
        for banned in BANNED:
            if f"{banned}/__init__.py" in names:
                problems.append(f"{banned} should not be packaged")
    zipped = os.path.getsize(path)
    print(
        f"{path}: {zipped / 2**20:.1f} MiB zipped, {unzipped / 2**20:.1f} MiB unzipped, "
        f"{len(entries)} files ({pyc} .pyc), newest glibc symbol 2.{newest_glibc}"
    )
    if zipped > ZIPPED_LIMIT:
        problems.append(f"zipped size over {ZIPPED_LIMIT / 2**20:.0f} MiB")
    if unzipped > UNZIPPED_LIMIT:
        problems.append(f"unzipped size over {UNZIPPED_LIMIT / 2**20:.0f} MiB")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if problems:
        print(f"verdict: NOT deployable ({len(problems)} problems above)")
        return 1
    print(
        f"verdict: within Lambda's limits ({ZIPPED_LIMIT / 2**20:.0f} MiB zipped, "
        f"{UNZIPPED_LIMIT / 2**20:.0f} MiB unzipped) and its glibc (2.{GLIBC_MINOR})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
