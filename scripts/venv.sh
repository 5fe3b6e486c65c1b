# Sourced by the scripts: ensure_venv REQUIREMENTS makes .venv with Python 3.13 (the Lambda
# runtime's) and installs REQUIREMENTS into it, skipping the install when nothing changed.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

# Print the command's header comment and exit, when it is asked for -h or --help.
help_if_asked() {
    case "${1:-}" in
        -h | --help)
            sed -n '2,/^[^#]/p' "$0" | grep '^#' | cut -c3-
            exit 0
            ;;
    esac
}

# A random key for a command that needs settings but signs nothing (collectstatic).
throwaway_key() {
    "${PY:-python3}" -c 'import secrets; print(secrets.token_urlsafe(48))'
}

# A throwaway RSA 2048 private key in PEM, for a command that loads the settings and signs nothing.
throwaway_signing_key() {
    "${PY:-python3}" -c 'from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
print(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode())'
}

# The Python 3.13 to build with: $PYTHON, python3.13, or pyenv's 3.13 (a pyenv shim on PATH
# may name a version it cannot run, so each candidate is run, not only found).
python_313() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 \
        "$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13"; do
        if [ -n "$candidate" ] && "$candidate" -c \
            'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "Python 3.13 is required (the Lambda runtime's): install it (pyenv install 3.13," \
        "or your system's python3.13 package), or set PYTHON=/path/to/python3.13" >&2
    return 1
}

ensure_venv() {
    local requirements="$ROOT/$1"
    local stamp="$VENV/.installed-$(basename "$1")"
    if [ -x "$PY" ] && ! "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
        echo "Replacing .venv: it is not Python 3.13" >&2
        rm -rf "$VENV"
    fi
    if [ ! -x "$PY" ]; then
        local python
        python="$(python_313)" || return 1
        echo "Creating .venv with $("$python" --version)" >&2
        "$python" -m venv "$VENV"
    fi
    local wanted
    wanted="$(cat "$ROOT/requirements.txt" "$requirements" | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return 0
    fi
    local minutes="about a minute"
    [ "$1" = requirements-dev.txt ] && minutes="two to three minutes"
    echo "Installing $1 into .venv: $minutes the first time (pip's log: .venv/pip-install.log)" >&2
    local log="$VENV/pip-install.log"
    if ! "$PY" -m pip install --disable-pip-version-check -q -r "$requirements" >"$log" 2>&1; then
        cat "$log" >&2
        return 1
    fi
    echo "$wanted" >"$stamp"
}
