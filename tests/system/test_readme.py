"""The README's curl session, pasted into bash twice against a live server, as a reader would."""

import json
import re
import subprocess

import pytest

from devtools import ROOT


def curl_session() -> str:
    """The bash block under "The API by curl" in the README."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The API by curl") :]
    return re.search(r"```bash\n(.*?)```", section, re.S)[1]


@pytest.mark.system
def test_the_readmes_curl_session_runs_twice_as_written(api_server):
    script = (
        curl_session()
        .replace("API=http://127.0.0.1:8000", f"API={api_server.url}", 1)
        .replace("MAIL=build/mail", f"MAIL={api_server.mail_dir}", 1)
    )
    for run in (1, 2):
        result = subprocess.run(
            ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, (run, result.stderr)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        assert re.fullmatch(r'\{"id":\d+,"email":"user-\d+@example.com"\}', lines[0]), lines
        assert lines[3].startswith('{"id":') and '"username":"John Smith"' in lines[3]
        assert '"email":"newuser-' in lines[4]
        sessions = json.loads(lines[6])
        assert set(sessions) == {"next", "previous", "results"}, sessions
        assert [session["current"] for session in sessions["results"]] == [True]
        assert set(json.loads(lines[7])) == {"access_token", "refresh_token"}
        assert lines[8] == '{"success":"User logged out of every session."}'
        assert lines[9] == '{"success":"User logged out."}'
        assert '"code":"invalid_refresh_token"' in lines[10]
        assert lines[11].startswith('{"detail":"If an account has this address'), lines[11]
        assert set(json.loads(lines[12])) == {"access_token", "refresh_token"}, lines[12]
        state = json.loads(lines[13])
        assert state["email"].startswith("newuser-") and state["email_verified"] is True, state
