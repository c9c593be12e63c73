"""Issue 9 item 6: secret params. A pipeline param with `format: password` (or
`x-kontinue-secret: true`) and a Python argument typed `SecretStr` reach the script or function
whole, and are shown as `******` everywhere kontinue shows them: `get`/`list -o yaml|json`,
`tree`, `describe`, `--log`, `logs`, step results, error messages and the HTTP API. The value
never enters kontinue.db: it sits in a 0600 file under `secrets/`, deleted with its Execution.

Real CLI processes, a real SQLite file (its bytes grepped), a real `kontinue server`.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import httpx

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import CLI, KONTINUE, ROOT

SECRET = "hunter2-Sekr1t-value"
HEAD = "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata:\n"

PIPELINE = f"""{HEAD}  name: secret-demo
params:
  type: object
  properties:
    user: {{type: string}}
    token: {{type: string, format: password}}
    apiKey: {{type: string, x-kontinue-secret: true}}
steps:
  - name: use
    script:
      image: alpine:3.20
      command: |
        printf %s "{{{{ params.token }}}}" > received-token
        printf %s "{{{{ params.apiKey }}}}" > received-key
        echo "user {{{{ params.user }}}} token {{{{ params.token }}}}"
  - name: fan
    parallel:
      - name: branch
        script:
          image: alpine:3.20
          command: |
            if [ ! -e flaked ]; then
              touch flaked; echo "failing with {{{{ params.token }}}}"; exit 3
            fi
            printf %s "{{{{ params.token }}}}" > received-in-branch
            echo "branch sees {{{{ params.token }}}}"
"""

FNS = """
from pydantic import BaseModel, SecretStr
import kontinue

class Args(BaseModel):
    user: str
    token: SecretStr

@kontinue.function("login")
def login(ktx: kontinue.ExecutionContext, args: Args) -> dict:
    token = args.token.get_secret_value()
    seen = kontinue.store(ktx, lambda: "stored " + token)
    if ktx.attempts() == 0:
        raise RuntimeError("the server refused token " + token)
    return {"length": len(token), "echo": token, "seen": seen}
"""


def _no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text, text[-3000:]


def _db_bytes(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in state.glob("kontinue.db*") if p.is_file())


def _views(cli: CLI, name: str) -> list[str]:
    out = []
    for args in (
        ("get", name, "-o", "yaml"),
        ("get", name, "-o", "json"),
        ("list", "-o", "yaml"),
        ("list", "-o", "json"),
        ("tree", name),
        ("describe", name),
        ("logs", name),
    ):
        done = cli(*args)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        out += [done.stdout, done.stderr]
    return out


def test_a_secret_param_reaches_the_script_and_is_masked_everywhere(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    first = cli(
        "submit", "p.yaml", "--name", "s", "--log",
        "-p", "user=bob", "-p", f"token={SECRET}", "-p", f"apiKey={SECRET}-k",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr  # the branch fails once
    _no_secret(first.stdout, first.stderr)
    assert "failing with ******" in first.stdout + first.stderr
    # the script got the real values, through its environment
    assert (tmp_path / "received-token").read_text() == SECRET
    assert (tmp_path / "received-key").read_text() == f"{SECRET}-k"

    # `kontinue retry` of the failed pipeline runs the branch again with the real value
    again = cli("retry", "s")
    assert again.returncode == 0, again.stderr
    _no_secret(again.stdout, again.stderr)
    assert (tmp_path / "received-in-branch").read_text() == SECRET

    views = _views(cli, "s")
    _no_secret(*views)
    assert "token: '******'" in views[0] and "apiKey: '******'" in views[0]
    assert "user bob token ******" in "".join(views)  # step results and logs, masked
    assert "branch sees ******" in "".join(views)

    # kontinue.db (and its WAL) never held the value; the secret file is private
    assert SECRET.encode() not in _db_bytes(state_dir)
    files = list((state_dir / "secrets").iterdir())
    assert files and all(SECRET.encode() in f.read_bytes() for f in files)
    assert stat.S_IMODE((state_dir / "secrets").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)

    # resubmit runs again with the value; delete removes the secrets with the Executions
    (tmp_path / "received-token").unlink()
    resubmitted = cli("resubmit", "s", "--name", "s2")
    assert resubmitted.returncode == 0, resubmitted.stderr
    _no_secret(resubmitted.stdout, resubmitted.stderr)
    assert (tmp_path / "received-token").read_text() == SECRET
    for name in ("s", "s2"):
        assert cli("delete", name).returncode == 0
    assert list((state_dir / "secrets").iterdir()) == []


def test_a_secretstr_argument_of_a_python_function(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "fns.py").write_text(FNS)
    first = cli(
        "execute", "login", "--import", "fns.py", "--name", "f", "-a", "user=bob",
        "-a", f"token={SECRET}",
    )  # fmt: skip
    assert first.returncode == 1
    _no_secret(first.stdout, first.stderr)
    assert "the server refused token ******" in first.stderr
    again = cli("retry", "f", "--import", "fns.py")
    assert again.returncode == 0, again.stderr
    _no_secret(again.stdout, again.stderr)
    ex = open_store(state_dir).get(Execution, "default", "f")
    # the function saw the whole value (its length), what it left is masked
    assert ex.status.result == {
        "length": len(SECRET),
        "echo": "******",
        "seen": "stored ******",
    }
    assert ex.spec.arguments == {"user": "bob", "token": "******"}
    _no_secret(*_views(cli, "f"))
    assert SECRET.encode() not in _db_bytes(state_dir)


def test_the_http_api_shows_secrets_masked(cli: CLI, state_dir: Path, tmp_path: Path) -> None:
    gate = '  - name: gate\n    suspend: {displayName: "Approve {{ params.token }}"}\n'
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("exit 3", "exit 0") + gate)
    done = cli(
        "submit", "p.yaml", "--name", "s",
        "-p", "user=bob", "-p", f"token={SECRET}", "-p", "apiKey=k",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    process = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "server", "--port", "0"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:
            found = re.search(r"UI and API on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "the server did not start"
        with httpx.Client(base_url=url, timeout=30) as client:
            bodies = [
                client.get(path).text
                for path in (
                    "/api/v1/executions",
                    "/api/v1/executions/s",
                    "/api/v1/executions/s/tree",
                    "/api/v1/executions/s/logs",
                )
            ]
        _no_secret(*bodies)
        assert "******" in bodies[1] and "user bob token ******" in bodies[3]
        assert "Approve ******" in bodies[2]  # the gate's title
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)


def test_a_schedule_keeps_its_secret_params_sealed_and_its_runs_get_them(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("exit 3", "exit 0"))
    created = cli(
        "schedule", "create", "nightly", "--cron", "0 2 * * *", "p.yaml",
        "-p", "user=bob", "-p", f"token={SECRET}", "-p", "apiKey=key",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    shown = cli("schedule", "get", "nightly", "-o", "yaml")
    assert shown.returncode == 0, shown.stderr
    _no_secret(shown.stdout)
    assert "token: '******'" in shown.stdout
    run = cli("schedule", "trigger", "nightly")
    assert run.returncode == 0, run.stderr
    _no_secret(run.stdout, run.stderr)
    assert (tmp_path / "received-token").read_text() == SECRET
    found = re.search(r"triggered: Execution (\S+)", run.stderr)
    assert found, run.stderr
    views = _views(cli, found.group(1))
    _no_secret(*views)
    assert "token: '******'" in views[0] and "user bob token ******" in "".join(views)
    assert SECRET.encode() not in _db_bytes(state_dir)
    assert cli("schedule", "delete", "nightly").returncode == 0


def test_a_backup_carries_the_secrets_and_a_restored_store_runs_with_them(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "p.yaml").write_text(
        f"{HEAD}  name: backup-demo\nparams:\n  type: object\n  properties:\n"
        "    token: {type: string, format: password}\nsteps:\n  - name: use\n    script:\n"
        "      image: alpine:3.20\n"
        '      command: printf %s "{{ params.token }}" > received-token\n'
    )
    assert cli("submit", "p.yaml", "--name", "b", "-p", f"token={SECRET}").returncode == 0
    backup = tmp_path / "backup.db"
    done = cli("doctor", "--backup", str(backup))
    assert "backup written" in done.stdout, done.stdout + done.stderr
    copied = tmp_path / "backup.db.secrets"
    assert f"{copied} to {state_dir / 'secrets'}" in done.stdout  # how to restore it
    assert SECRET.encode() not in backup.read_bytes()
    assert stat.S_IMODE(copied.stat().st_mode) == 0o700
    files = list(copied.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    again = cli("doctor", "--backup", str(tmp_path / "other.db"))
    assert again.returncode == 0, again.stdout + again.stderr

    # restore as the line says, into a new state directory: a resubmit gets the value
    restored = tmp_path / "restored"
    restored.mkdir(mode=0o700)
    backup.rename(restored / "kontinue.db")
    copied.rename(restored / "secrets")
    (tmp_path / "received-token").unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rerun = subprocess.run(
        [*KONTINUE, "--state-dir", str(restored), "resubmit", "b", "--name", "b2"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    _no_secret(rerun.stdout, rerun.stderr)
    assert (tmp_path / "received-token").read_text() == SECRET
