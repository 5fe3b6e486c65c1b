"""Take out of a Lambda zip what the function never uses, keeping every entry's date.

Run by ``scripts/package`` after ``zappa package``: Zappa's own command-line dependencies (the
handler never imports them; found by serving every page from the unzipped package and listing
the modules loaded), Django apps we do not install, translations other than English (we serve
``en-us`` only), JavaScript source maps and precompressed duplicates of static files, and the
packages' own static folders (``collectstatic`` copied what we serve into ``staticfiles/``).

    python -m scripts.slim_package ZIP
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import zipfile

# Top-level entries of the venv that only Zappa's CLI, packaging or our other parts need;
# requests and its own dependencies, which DRF imports when they are there but never uses
# outside its test client (40 ms of every cold start); boto3's, which the runtime provides.
UNUSED_TOP_LEVEL = {
    "_distutils_hack",
    "argcomplete",
    "attr",
    "attrs",
    "boto3",
    "botocore",
    "certifi",
    "cffi",
    "cfn_clean",
    "cfn_flip",
    "cfn_tools",
    "charset_normalizer",
    "click",
    "dateutil",
    "distutils-precedence.pth",
    "hjson",
    "jmespath",
    "jsonschema",
    "jsonschema_specifications",
    "packaging",
    "pkg_resources",
    "placebo",
    "pycparser",
    "python_dateutil",
    "referencing",
    "requests",
    "rpds",
    "s3transfer",
    "scoring",
    "six.py",
    "slugify",
    "text_unidecode",
    "toml",
    "tqdm",
    "urllib3",
}
UNUSED_DJANGO_APPS = (
    "flatpages",
    "gis",
    "humanize",
    "postgres",
    "redirects",
    "sitemaps",
    "syndication",
)
DROP = [
    re.compile(r"[^/]+/(.*/)?locale/(?!en[/_])[^/]+/.*"),  # translations but English
    re.compile(rf"django/contrib/({'|'.join(UNUSED_DJANGO_APPS)})/.*"),
    re.compile(r"staticfiles/.*\.(map|gz|br)"),  # source maps, precompressed copies
    # The admin loads its vendored libraries minified unless DEBUG is on.
    re.compile(
        r"staticfiles/admin/js/vendor/[^/]+/(jquery|xregexp|select2\.full)\.[0-9a-f]{12}\.js"
    ),
    # Browsers take the WOFF fonts; the SVG, TrueType and EOT copies are for old ones.
    re.compile(r"staticfiles/rest_framework/fonts/.*\.(svg|ttf|eot)"),
    re.compile(r"(?!staticfiles/)[^/]+/static/.*"),  # sources of what collectstatic copied
]


def unused(name: str) -> bool:
    """Whether the zip entry ``name`` is something the function never reads."""
    top = name.split("/", 1)[0]
    if top in UNUSED_TOP_LEVEL or top.split("-", 1)[0] in UNUSED_TOP_LEVEL:
        return True
    return any(pattern.fullmatch(name) for pattern in DROP)


def slim(path: str) -> tuple[int, int]:
    """Rewrite the zip at ``path`` without the unused entries; return (kept, dropped)."""
    kept = dropped = 0
    temporary = f"{path}.slim"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w") as target:
        for entry in source.infolist():
            if unused(entry.filename):
                dropped += 1
                continue
            target.writestr(
                entry, source.read(entry), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9
            )
            kept += 1
    os.replace(temporary, path)
    return kept, dropped


def main(argv: list[str] | None = None) -> int:
    """Slim the zip in place and say how many entries went."""
    parser = argparse.ArgumentParser(prog="python -m scripts.slim_package", description=__doc__)
    parser.add_argument("zip")
    args = parser.parse_args(argv)
    kept, dropped = slim(args.zip)
    print(f"{args.zip}: {dropped} unused entries taken out, {kept} kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
