"""Swap the compiled packages of a venv for wheels Lambda's python3.13 runtime can load.

The runtime runs on Amazon Linux 2023 (glibc 2.34); pip on this machine may pick wheels tagged
for a newer glibc, which fail to import there. Every non-pure package of the venv is
downloaded again for glibc 2.34 at most (manylinux_2_34, _2_28, else manylinux2014 = 2.17) and
reinstalled, same version.
Run with the venv's own interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

PLATFORMS = ["manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64"]
GLIBC = "2.34"
PYTHON_VERSION = "3.13"


def binary_distributions() -> list[str]:
    """``name==version`` of every installed distribution whose wheel is not pure Python."""
    pinned = []
    for dist in metadata.distributions():
        wheel = dist.read_text("WHEEL") or ""
        if "Root-Is-Purelib: false" in wheel:
            pinned.append(f"{dist.metadata['Name']}=={dist.version}")
    return sorted(pinned)


def main() -> int:
    """Download and force-reinstall the binary distributions for Lambda's platform."""
    pinned = binary_distributions()
    print(f"Lambda wheels for glibc <= {GLIBC}: {' '.join(pinned)}")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    with tempfile.TemporaryDirectory() as wheelhouse:
        subprocess.run(
            [
                *pip,
                "download",
                "--no-deps",
                "--only-binary=:all:",
                *(option for platform in PLATFORMS for option in ("--platform", platform)),
                "--implementation",
                "cp",
                "--python-version",
                PYTHON_VERSION,
                "-d",
                wheelhouse,
                *pinned,
            ],
            check=True,
        )
        wheels = sorted(str(path) for path in Path(wheelhouse).glob("*.whl"))
        subprocess.run([*pip, "install", "--no-deps", "--force-reinstall", *wheels], check=True)
    for wheel in wheels:
        print(f"  {Path(wheel).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
