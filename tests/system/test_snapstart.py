"""A SnapStart rehearsal, offline: the init phase, the snapshot, restored copies.

One process does Lambda's init phase with the lean package (the import of
``app.aws.lambda_function``: the secrets from moto's S3, Django set up, the URLconf loaded, no
AWS SDK), runs
the before-snapshot hooks from the runtime's ``snapshot_restore_py`` registry (last registered
first, as the runtime does), then forks children that stand for restored instances (CRIU cannot
checkpoint on these machines): each runs the after-restore hooks in order, then answers one
API Gateway event, against PostgreSQL on 127.0.0.1.
"""

import json
import subprocess

import pytest

from devtools import ROOT
from devtools.lambda_package import BUILD, FunctionStage, snapstart_rehearsal

ZIP = BUILD / "auth-api-dev.zip"
COPIES = 3


@pytest.mark.system
def test_restored_copies_answer_on_fresh_connections_with_tokens_of_their_own():
    if not ZIP.exists():
        subprocess.run([str(ROOT / "scripts/package"), "dev"], check=True)
    with FunctionStage("snapstart") as stage:
        report = snapstart_rehearsal(stage, ZIP, copies=COPIES)
    print(json.dumps({key: value for key, value in report.items() if key != "copies"}))
    # Django was set up in the init phase without touching the database, nor the AWS SDK.
    assert report["open_after_init"] == [] and report["open_at_snapshot"] == []
    assert report["sdk_after_init"] == []
    copies = report["copies"]
    assert [copy["status"] for copy in copies] == [200] * COPIES
    refresh_tokens = {copy["body"]["refresh_token"] for copy in copies}
    access_tokens = [copy["body"]["access_token"] for copy in copies]
    jtis = {json.loads(_payload(token))["jti"] for token in access_tokens}
    assert len(refresh_tokens) == COPIES and len(jtis) == COPIES
    for copy in copies:
        restore, warm = copy["restore_to_response_ms"], copy["warm_ms"]
        print(f"restore to response {restore:.0f} ms, warm {warm:.0f} ms")


def _payload(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
