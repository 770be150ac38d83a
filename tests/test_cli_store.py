"""The `baton` command names its store and who acts the same way everywhere: `--db` (or
BATON_DATABASE_URL) before or after the command, `--as` (or BATON_USER); a command against a
store without Baton's tables says to run `baton init-db`, naming the store, and creates nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result

from cli.main import cli
from tests.test_cli import CLI_ENV, DEFINITIONS, Baton, err, out


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    obj: dict[str, Any] = {}
    try:
        return CliRunner().invoke(cli, list(args), obj=obj, env={**CLI_ENV, **(env or {})})
    finally:
        if obj.get("services") is not None:
            obj["services"].db.dispose()


def test_a_second_shell_without_a_store_is_told_to_run_init_db_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "baton.sqlite3"
    url = f"sqlite:///{missing}"
    result = run("tasks", "--lane", "Account Management", env={"BATON_DATABASE_URL": url})
    assert result.exit_code == 1
    message = click.unstyle(result.stderr)
    assert "baton init-db" in message and str(missing) in " ".join(message.split())
    assert "no such table" not in message
    assert not missing.exists() and not missing.parent.exists()  # no silent empty store

    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()  # a file, but no tables
    result = run("--db", f"sqlite:///{empty}", "users", "list", "--as", "ana")
    assert result.exit_code == 1 and "baton init-db" in click.unstyle(result.stderr)
    with sqlite3.connect(empty) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_db_and_as_come_before_or_after_the_command_or_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'baton.sqlite3'}"
    assert run("--definitions", str(DEFINITIONS), "init-db", "--db", url).exit_code == 0
    first = run("users", "add", "adam", "--role", "admin", "--name", "Adam", "--db", url)
    assert first.exit_code == 0, first.stderr  # BATON_USER=ana of the shell names nobody yet: no admin
    added = run(
        "users",
        "add",
        "ana",
        "--role",
        "account_manager",
        "--name",
        "Ana",
        "--db",
        url,
        env={"BATON_USER": "adam"},
    )
    assert added.exit_code == 0, added.stderr
    refused = run("users", "add", "bob", "--role", "admin", "--name", "Bob", "--db", url)
    assert refused.exit_code == 1 and "only admins may" in click.unstyle(
        refused.stderr
    )  # ana, from BATON_USER

    issued = run("tokens", "issue", "ana", "--name", "ci", "--as", "ana", "--db", url)
    assert issued.exit_code == 0 and "baton_" in out(issued)
    from_env = run("tokens", "list", "ana", env={"BATON_DATABASE_URL": url, "BATON_USER": "ana"})
    assert from_env.exit_code == 0 and "ci" in out(from_env)
    someone_else = run("tokens", "issue", "adam", "--name", "x", "--db", url)  # BATON_USER=ana
    assert someone_else.exit_code == 1 and "only they or an admin" in click.unstyle(someone_else.stderr)

    report = run("report", "workload", "--as", "ana", "--db", url, "--definitions", str(DEFINITIONS))
    assert report.exit_code == 1 and "may not read reports" in click.unstyle(report.stderr)
    by_admin = run("report", "time", "--as", "adam", "--db", url, "--definitions", str(DEFINITIONS))
    assert by_admin.exit_code == 0, by_admin.stderr
    covers = run("covers", "--as", "ana", "--db", url)
    assert covers.exit_code == 0
    notes = run("notifications", "--as", "ana", "--db", url)
    assert notes.exit_code == 0 and "0 unread" in out(notes)


def test_the_test_harness_still_drives_an_initialised_store(database_url: str) -> None:
    baton = Baton(database_url)
    assert baton("init-db").exit_code == 0
    listing = baton("users", "list")
    assert listing.exit_code == 1 and "'ana' is not a Baton user" in err(listing)
