"""`ouie user add/list`: users created with argon2 hashes, duplicates refused, creation audited."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ouie.cli import app
from ouie.console.auth import verify_password
from ouie.store.repository import Store


def test_user_add_stores_only_an_argon2_hash_and_refuses_duplicates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ouie.db'}"
    runner = CliRunner()
    args = ["user", "add", "olga", "--role", "operator", "--database", url, "--actor", "root"]
    result = runner.invoke(app, args, input="s3cret-pw\ns3cret-pw\n")
    assert result.exit_code == 0, result.output
    store = Store.open(url)
    user = store.get_user("olga")
    assert user is not None and user.role == "operator"
    assert user.password_hash.startswith("$argon2id$")
    assert "s3cret-pw" not in user.password_hash
    assert verify_password(user.password_hash, "s3cret-pw")
    assert not verify_password(user.password_hash, "s3cret-pX")
    assert [(e["action"], e["actor"]) for e in store.audit.entries()] == [("user.create", "root")]
    store.close()

    again = runner.invoke(app, args, input="other-pw\nother-pw\n")
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
