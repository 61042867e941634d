"""`ouie user add/list`: users created with argon2 hashes, duplicates refused, creation audited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ouie.cli import app
from ouie.console.auth import verify_password
from ouie.store.repository import Store


def test_user_add_stores_only_an_argon2_hash_and_refuses_duplicates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ouie.db'}"
    runner = CliRunner()
    args = ["user", "add", "olga", "--role", "operator", "--database", url, "--actor", "root"]
    result = runner.invoke(app, args, input="rosewood-harbour-lamp\nrosewood-harbour-lamp\n")
    assert result.exit_code == 0, result.output
    store = Store.open(url)
    user = store.get_user("olga")
    assert user is not None and user.role == "operator"
    assert user.password_hash.startswith("$argon2id$")
    assert "rosewood-harbour-lamp" not in user.password_hash
    assert verify_password(user.password_hash, "rosewood-harbour-lamp")
    assert not verify_password(user.password_hash, "rosewood-harbour-lamX")
    assert [(e["action"], e["actor"]) for e in store.audit.entries()] == [("user.create", "root")]
    store.close()

    again = runner.invoke(app, args, input="violet-canyon-drum\nviolet-canyon-drum\n")
    assert again.exit_code == 1
    assert "already exists" in again.output
    listed = runner.invoke(app, ["user", "list", "--database", url])
    assert "olga" in listed.output and "operator" in listed.output

    disable = ["user", "disable", "olga", "--database", url, "--actor", "root"]
    assert runner.invoke(app, disable).exit_code == 0
    assert runner.invoke(app, disable).exit_code == 1  # already disabled
    store = Store.open(url)
    user = store.get_user("olga")
    assert user is not None and not user.active
    assert [e["action"] for e in store.audit.entries()] == ["user.create", "user.disable"]
    store.close()


def test_user_add_refuses_a_short_or_guessable_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ouie.db'}"
    runner = CliRunner()
    args = ["user", "add", "olga", "--role", "operator", "--database", url]
    for weak, why in [
        ("s3cret-pw", "9 characters; use at least 12"),
        ("password1234", "too easy to guess"),
        ("olga-olga-olga", "too easy to guess"),
    ]:
        result = runner.invoke(app, args, input=f"{weak}\n{weak}\n")
        assert result.exit_code == 1 and why in result.output, result.output
        assert weak not in result.output.split("Repeat for confirmation:")[-1]
    store = Store.open(url)
    assert store.get_user("olga") is None
    store.close()


def test_user_password_ends_sessions_and_keeps_the_policy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ouie.db'}"
    runner = CliRunner()
    add = ["user", "add", "olga", "--role", "operator", "--database", url]
    assert runner.invoke(app, add, input="rosewood-harbour-lamp\n" * 2).exit_code == 0
    change = ["user", "password", "olga", "--database", url, "--actor", "root"]
    assert runner.invoke(app, change, input="short\nshort\n").exit_code == 1
    assert runner.invoke(app, change, input="copper-meadow-violin\n" * 2).exit_code == 0
    store = Store.open(url)
    user = store.get_user("olga")
    assert user is not None and verify_password(user.password_hash, "copper-meadow-violin")
    assert [e["action"] for e in store.audit.entries()] == ["user.create", "user.password"]
    store.close()


def run_ouie(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`ouie ARGS` as an operator runs it (the console-script entry point, not CliRunner)."""
    return subprocess.run(
        [sys.executable, "-c", "from ouie.cli import main; main()", *args],
        capture_output=True,
        text=True,
        input="rosewood-harbour-lamp\n" * 2,
        env={k: v for k, v in os.environ.items() if k != "OUIE_AUDIT_KEY"} | (env or {}),
        timeout=120,
    )


def test_configuration_errors_end_in_one_line_not_a_traceback(tmp_path: Path) -> None:
    """A keyed audit chain and no key; a database URL ouie does not support (its password not
    shown): one line naming what to fix, exit status 2."""
    url = f"sqlite:///{tmp_path / 'ouie.db'}"
    key = "k" * 40
    keyed = run_ouie(
        "user", "add", "ada", "--role", "auditor", "--database", url, env={"OUIE_AUDIT_KEY": key}
    )
    assert keyed.returncode == 0, keyed.stderr
    no_key = run_ouie("user", "add", "olga", "--role", "operator", "--database", url)
    assert no_key.returncode == 2
    assert "Traceback" not in no_key.stderr and "OUIE_AUDIT_KEY" in no_key.stderr
    mysql = run_ouie("user", "list", "--database", "mysql://root:hunter2@db/ouie")
    assert mysql.returncode == 2 and "Traceback" not in mysql.stderr
    assert "'mysql' is not supported" in mysql.stderr and "hunter2" not in mysql.stderr
