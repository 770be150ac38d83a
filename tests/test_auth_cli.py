"""The operator sets passwords and issues tokens with the `baton` command line."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cli.main import cli
from engine.db import Database
from tests.test_cli import Baton, err, ok
from workflows.demo.seed import DEMO_PASSWORD
from workflows.models import User


@pytest.fixture
def agency(database_url: str) -> Baton:
    baton = Baton(database_url)
    ok(baton("init-db"))
    ok(baton("users", "add", "ana", "--role", "account_manager", "--name", "Ana Alvarez"))
    return baton


def stored_hash(database_url: str, username: str) -> str | None:
    db = Database(database_url)
    try:
        with db.unit_of_work(write=False) as session:
            return session.scalar(select(User.password_hash).where(User.username == username))
    finally:
        db.dispose()


def test_a_password_is_typed_twice_hidden_and_checked(agency: Baton, database_url: str) -> None:
    result = agency.runner.invoke(
        cli,
        ["--db", database_url, "users", "password", "ana"],
        input="long enough pw\nlong enough pw\n",
        obj={},
    )
    assert result.exit_code == 0, result.output
    assert "password set for ana" in result.output and "long enough pw" not in result.output
    assert (stored_hash(database_url, "ana") or "").startswith("$argon2id$")

    short = agency("users", "password", "ana", "--password", "short")
    assert short.exit_code == 1 and "at least 8 characters" in err(short)
    same = agency("users", "password", "ana", "--password", "ana")
    assert same.exit_code == 1
    nobody = agency("users", "password", "zoe", "--password", "long enough pw")
    assert nobody.exit_code == 1 and "no user 'zoe'" in err(nobody)


def test_a_token_is_shown_once_listed_without_its_secret_and_revoked(agency: Baton) -> None:
    issued = ok(agency("tokens", "issue", "ana", "--name", "crm-sync"))
    secret = issued.strip().splitlines()[-1]
    assert re.fullmatch(r"baton_[A-Za-z0-9_-]{43}", secret)
    assert "token 1 (crm-sync) for ana" in issued

    listed = ok(agency("tokens", "list", "ana"))
    assert "crm-sync" in listed and secret[:12] in listed and secret not in listed
    assert "never" in listed  # not used yet

    assert "revoked token 1 of ana" in ok(agency("tokens", "revoke", "1"))
    assert re.search(
        r"crm-sync .*\d{4}-\d\d-\d\d \d\d:\d\d\s*│\s*$", ok(agency("tokens", "list", "ana")), re.M
    )
    missing = agency("tokens", "revoke", "7")
    assert missing.exit_code == 1 and "no API token 7" in err(missing)
    blank = agency("tokens", "issue", "ana", "--name", "  ")
    assert blank.exit_code == 1 and "give the token a name" in err(blank)


def test_the_demo_prints_the_password_its_people_log_in_with(database_url: str) -> None:
    text = ok(Baton(database_url)("demo", "--seed-only"))
    assert f"password {DEMO_PASSWORD}" in text
    assert (stored_hash(database_url, "olga") or "").startswith("$argon2id$")
