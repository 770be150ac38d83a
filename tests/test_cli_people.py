"""The ops lead staffs the agency and its engagements from the `baton` command line."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from tests.test_cli import Baton, err, ok, started_engagement
from workflows.demo import samples as stories


@pytest.fixture
def agency(database_url: str) -> Baton:
    """Definitions deployed; two AMs, two PMs, an ops lead."""
    baton = Baton(database_url)
    ok(baton("init-db"))
    for username, role, name in (
        ("ana", "account_manager", "Ana Alvarez"),
        ("alex", "account_manager", "Alex Chen"),
        ("pete", "project_manager", "Pete Novak"),
        ("priya", "project_manager", "Priya Shah"),
        ("olga", "ops_lead", "Olga Berg"),
    ):
        ok(baton("users", "add", username, "--role", role, "--name", name))
    return baton


def refused(result: object, fragment: str) -> None:
    assert getattr(result, "exit_code", None) == 1
    message = err(result)  # type: ignore[arg-type]
    assert "refused:" in message or "error:" in message
    assert fragment in message, message
    assert "Traceback" not in message


def test_users_hold_several_roles_and_bad_input_is_refused(agency: Baton) -> None:
    text = ok(agency("users", "add", "max", "--role", "ops_lead", "--role", "admin", "--name", "Max Mayer"))
    assert "added max (Max Mayer): admin, ops_lead" in text
    assert re.search(r"max\s+│\s+Max Mayer\s+│\s+│\s+admin, ops_lead\s+│\s+yes", ok(agency("users", "list")))
    admins = ok(agency("users", "list", "--role", "admin"))
    assert "max" in admins and "ana" not in admins

    # from now on the store has an admin, who is named
    refused(
        agency("users", "add", "max", "--role", "admin", "--name", "Again", "--as", "max"),
        "there is already a user 'max'",
    )
    refused(
        agency("users", "add", "Bad Name", "--role", "admin", "--name", "X", "--as", "max"),
        "is not a username",
    )
    refused(
        agency("users", "add", "eve", "--role", "admin", "--name", "Eve", "--email", "nope", "--as", "max"),
        "'nope' is not an e-mail address",
    )
    result = agency("users", "add", "eve", "--role", "boss", "--name", "Eve", "--as", "max")
    assert result.exit_code == 2 and "'boss' is not one of" in err(result)


def test_claim_reassign_team_and_cover_from_the_command_line(agency: Baton) -> None:
    text = ok(
        agency(
            "start", "--client", "Acme", "--name", "Rebrand", "--am", "ana", "--pm", "pete", "--as", "olga"
        )
    )
    engagement = started_engagement(text)
    assert re.search(r"pitch_prepare — Prepare pitch .*│\s+ana\s+│", text)

    # alex, another AM, claims it from the pool; ana then cannot complete it
    assert "alex claimed pitch_prepare" in ok(
        agency("claim", str(engagement), "pitch_prepare", "--as", "alex")
    )
    assert "ana (claimed by alex)" in ok(agency("tasks", "--engagement", str(engagement)))
    refused(agency("claim", str(engagement), "pitch_prepare", "--as", "ana"), "already claimed by alex")
    refused(
        agency("complete", str(engagement), "pitch_prepare", "--as", "ana", "--data", "{}"),
        "it is claimed by alex",
    )
    assert "released pitch_prepare" in ok(agency("unclaim", str(engagement), "pitch_prepare", "--as", "alex"))

    # only the ops lead reassigns
    refused(
        agency("reassign", str(engagement), "pitch_prepare", "alex", "--as", "pete", "--reason", "x"),
        "pete may not reassign pitch_prepare (Account Management): only an ops lead or an admin may",
    )
    text = ok(
        agency("reassign", str(engagement), "pitch_prepare", "alex", "--as", "olga", "--reason", "ana is out")
    )
    assert "pitch_prepare of engagement 1 is now assigned to alex" in text

    # the team changes: the AM lane's open task follows the new AM only if it was the old AM's
    refused(agency("team", str(engagement), "--am", "alex", "--as", "pete"), "only ops leads or admins may")
    text = ok(agency("team", str(engagement), "--pm", "priya", "--as", "olga", "--reason", "pete moves on"))
    assert "project manager: pete → priya" in text
    assert "account manager: ana" in text and "project manager: priya" in text

    # cover: alex is away today (the command line runs on the real clock); pete, a PM, covers
    today = date.today().isoformat()
    text = ok(agency("cover", "alex", "--by", "pete", "--from", today, "--to", today, "--as", "alex"))
    assert f"pete covers alex from {today} to {today}" in text
    assert "pitch_prepare" in ok(agency("tasks", "--for", "pete"))
    assert re.search(rf"alex\s+│\s+pete\s+│\s+{today}", ok(agency("covers", "--on", today)))
    data = json.dumps(stories.pitch_prepare())
    ok(agency("complete", str(engagement), "pitch_prepare", "--as", "pete", "--data", data))

    page = ok(agency("show", str(engagement)))
    assert "team: account manager ana, project manager priya" in page
    assert re.search(r"task_assigned\s+│\s+pitch_prepare\s+│.*olga.*ana → alex; reason: ana is out", page)
    assert re.search(r"team_changed\s+│.*olga.*project manager: pete → priya; reason: pete moves on", page)
    assert re.search(r"task_completed\s+│\s+pitch_prepare\s+│.*pete.*covering for alex", page)


def test_acting_on_behalf_of_someone_from_the_command_line(agency: Baton) -> None:
    engagement = started_engagement(ok(agency("start", "--client", "Acme", "--name", "X", "--am", "ana")))
    data = json.dumps(stories.pitch_prepare())
    refused(
        agency(
            "complete",
            str(engagement),
            "pitch_prepare",
            "--as",
            "olga",
            "--on-behalf-of",
            "ana",
            "--data",
            data,
        ),
        "say why you act on behalf of ana",
    )
    ok(
        agency(
            "complete", str(engagement), "pitch_prepare", "--as", "olga", "--on-behalf-of", "ana",
            "--reason", "ana is at the client", "--data", data,
        )
    )  # fmt: skip
    page = ok(agency("show", str(engagement)))
    assert re.search(
        r"task_completed\s+│\s+pitch_prepare.*olga.*on behalf of ana; reason: ana is at the client", page
    )


def test_a_user_who_is_not_known_is_refused(agency: Baton) -> None:
    engagement = started_engagement(ok(agency("start", "--client", "Acme", "--name", "X")))
    refused(
        agency("complete", str(engagement), "pitch_prepare", "--as", "mallory", "--data", "{}"),
        "'mallory' is not a Baton user",
    )
    refused(agency("start", "--client", "Acme", "--name", "Y", "--am", "pete"), "pete does not hold the role")


def test_the_demo_seeds_people_for_every_role_and_prints_them(database_url: str) -> None:
    baton = Baton(database_url)
    text = ok(baton("demo", "--seed-only"))
    assert "demo data: 10 engagements created" in text
    for username, roles in (
        ("ana", "account_manager"),
        ("pete", "project_manager"),
        ("rita", "resource_manager"),
        ("olga", "ops_lead"),
        ("lee", "leadership"),
        ("adam", "admin"),
    ):
        assert re.search(rf"{username}\s+│\s+[A-Z][a-z]+ [A-Z][a-z]+\s+│\s+{roles}", text), username
    # every open task of the demo is with someone of its engagement's team
    rows = [line for line in ok(baton("tasks")).splitlines() if "Management" in line]
    assert len(rows) >= 8
    for row in rows:
        assert any(f" {user} " in row for user in ("ana", "alex", "pete", "priya")), row
