# Sourced by the scripts: ensure_venv REQUIREMENTS makes .venv with Python 3.11 and installs
# REQUIREMENTS into it, skipping the install when that file has not changed since the last one.
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

ensure_venv() {
    local requirements="$ROOT/$1"
    local stamp="$VENV/.installed-$(basename "$1")"
    if [ ! -x "$PY" ]; then
        local python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
        "$python" -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version' \
            || { echo "Python 3.11 is required" >&2; return 1; }
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
