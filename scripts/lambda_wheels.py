"""Swap the compiled packages of a venv for wheels Lambda's python3.11 runtime can load.

The runtime runs on Amazon Linux 2 (glibc 2.26); pip on this machine may pick wheels tagged
manylinux_2_28 or newer, which fail to import there. Every non-pure package of the venv is
downloaded again for glibc 2.26 at most (manylinux_2_26, else manylinux2014 = 2.17) and
reinstalled, same version.
Run with the venv's own interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

PLATFORMS = ["manylinux_2_26_x86_64", "manylinux2014_x86_64"]


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
    print(f"Lambda wheels for glibc <= 2.26: {' '.join(pinned)}")
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
                "3.11",
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
