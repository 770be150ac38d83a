"""Every `baton` command that acts as someone, tried as every role (and as nobody Baton knows).

The command line follows the same rules as the pages and the API, because it calls the same
use-case functions: a command run by someone the rule allows succeeds; anyone else is refused
with exit status 1 and a message saying who may do it; a `--as` naming no Baton user is refused.
Commands that act as nobody: `init-db`, `durations`, `worker`, `serve`, `demo` (operating the
store itself) and `definitions validate` (a check of a local file that reads no store).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.conftest import open_engagement
from tests.test_cli import DEFINITIONS, Baton, err
from workflows.demo.samples import STORIES
from workflows.people.auth import issue_token
from workflows.people.directory import create_user
from workflows.services import Services

# the demo agency (workflows.demo.seed): username -> role
PEOPLE = {
    "ana": "account manager",
    "alex": "account manager",
    "pete": "project manager",
    "priya": "project manager",
    "rita": "resource manager",
    "olga": "ops lead",
    "lee": "leadership",
    "adam": "admin",
}
EVERYONE = frozenset(PEOPLE)
OPERATORS = frozenset({"olga", "adam"})
AMS = frozenset({"ana", "alex"})
FIRST = STORIES["happy_path"].steps[0]  # pitch_prepare, in the AM lane, assigned to ana


@dataclass(frozen=True)
class Fixture:
    """What a command works on: a fresh engagement, and a token of ana's."""

    engagement: int
    token: int


@dataclass(frozen=True)
class Command:
    """A command line, the people allowed to run it, and what a refusal says."""

    args: Callable[[Fixture], list[str]]
    allowed: frozenset[str]
    refusal: str = "may not"  # every refusal names the actor and who may
    prepare: Callable[[Baton, Fixture], None] = field(default=lambda baton, fixture: None)


def _claimed_by_ana(baton: Baton, fixture: Fixture) -> None:
    result = baton("claim", str(fixture.engagement), FIRST.task, "--as", "ana")
    assert result.exit_code == 0, err(result)


COMMANDS: dict[str, Command] = {
    "definitions list": Command(lambda f: ["definitions", "list"], EVERYONE),
    "definitions deploy": Command(
        lambda f: ["definitions", "deploy", str(DEFINITIONS / "fast_track.bpmn"), "--note", "again"],
        frozenset({"olga"}),
    ),
    "engagements": Command(lambda f: ["engagements"], EVERYONE),
    "show": Command(lambda f: ["show", str(f.engagement)], EVERYONE),
    "tasks --lane": Command(lambda f: ["tasks", "--lane", "Account Management"], EVERYONE),
    "tasks --for": Command(lambda f: ["tasks", "--for", "ana"], EVERYONE),
    "start": Command(
        lambda f: ["start", "--client", "Initech", "--name", "Launch", "--am", "ana", "--pm", "pete"],
        frozenset({"ana", "alex", "olga", "adam"}),
    ),
    "cancel": Command(lambda f: ["cancel", str(f.engagement), "--reason", "client paused"], OPERATORS),
    "team": Command(
        lambda f: ["team", str(f.engagement), "--pm", "priya", "--reason", "pete is on leave"], OPERATORS
    ),
    "complete": Command(
        lambda f: ["complete", str(f.engagement), FIRST.task, "--data", json.dumps(FIRST.data)], AMS
    ),
    "claim": Command(lambda f: ["claim", str(f.engagement), FIRST.task], AMS),
    "unclaim": Command(
        lambda f: ["unclaim", str(f.engagement), FIRST.task],
        frozenset({"ana", "olga", "adam"}),
        prepare=_claimed_by_ana,
    ),
    "reassign": Command(
        lambda f: ["reassign", str(f.engagement), FIRST.task, "alex", "--reason", "ana is away"], OPERATORS
    ),
    "effort": Command(lambda f: ["effort", str(f.engagement), FIRST.task, "1.5", "--note", "deck"], AMS),
    "cover": Command(
        lambda f: ["cover", "ana", "--by", "alex", "--from", "2026-12-21", "--to", "2026-12-24"],
        frozenset({"ana", "olga", "adam"}),
    ),
    "users list": Command(lambda f: ["users", "list"], EVERYONE),
    "users add": Command(
        lambda f: ["users", "add", "nina", "--role", "account_manager", "--name", "Nina Ode"],
        frozenset({"adam"}),
    ),
    "users deactivate": Command(lambda f: ["users", "deactivate", "temp"], frozenset({"adam"})),
    "users lead": Command(lambda f: ["users", "lead", "alex", "account_manager"], OPERATORS),
    "users password": Command(
        # ana changing her own gives the current one (the admin set it, or she has none yet)
        lambda f: [
            "users",
            "password",
            "ana",
            "--password",
            "a long passphrase",
            "--current-password",
            "a long passphrase",
        ],
        frozenset({"ana", "adam"}),
    ),
    "tokens issue": Command(lambda f: ["tokens", "issue", "ana", "--name", "ci"], frozenset({"ana", "adam"})),
    "tokens list": Command(lambda f: ["tokens", "list", "ana"], frozenset({"ana", "adam"})),
    # someone else's token is not even shown to exist
    "report": Command(lambda f: ["report", "sla", "--format", "json"], frozenset({"lee", "olga", "adam"})),
    "tokens revoke": Command(
        lambda f: ["tokens", "revoke", str(f.token)], frozenset({"ana", "adam"}), refusal="no API token"
    ),
}


def _fixture(services: Services) -> Fixture:
    """A fresh engagement (Acme, ana and pete) and a fresh token of ana's."""
    engagement = open_engagement(services)
    with services.db.unit_of_work() as session:
        token = issue_token(session, services, "ana", name="sync", actor="ana").token.id
    return Fixture(engagement, token)


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_is_allowed_to_whom_the_rules_allow_and_refused_to_the_rest(
    name: str, deployed: Services, database_url: str
) -> None:
    command = COMMANDS[name]
    with deployed.db.unit_of_work() as session:  # someone an admin may deactivate
        create_user(session, deployed, "temp", actor="adam", name="Temp", roles=["resource_manager"])
    baton = Baton(database_url)
    outcomes: dict[str, bool] = {}
    for username in sorted(PEOPLE, key=lambda u: u in command.allowed):  # refusals first
        fixture = _fixture(deployed)
        command.prepare(baton, fixture)
        result = baton(*command.args(fixture), "--as", username)
        outcomes[username] = result.exit_code == 0
        message = err(result)
        assert "Traceback" not in message
        if username in command.allowed:
            assert result.exit_code == 0, f"{name} as {username} ({PEOPLE[username]}): {message}"
        else:
            assert result.exit_code == 1, f"{name} as {username} ({PEOPLE[username]}) was not refused"
            assert command.refusal in message, message
    assert {u for u, done in outcomes.items() if done} == command.allowed


@pytest.mark.parametrize("name", COMMANDS)
def test_a_name_baton_does_not_know_is_refused(name: str, deployed: Services, database_url: str) -> None:
    command = COMMANDS[name]
    with deployed.db.unit_of_work() as session:
        create_user(session, deployed, "temp", actor="adam", name="Temp", roles=["resource_manager"])
    fixture = _fixture(deployed)
    command.prepare(Baton(database_url), fixture)
    result = Baton(database_url)(*command.args(fixture), "--as", "mallory")
    assert result.exit_code == 1, f"{name} as mallory was not refused"
    assert "'mallory' is not a Baton user" in err(result) or command.refusal in err(result), err(result)


def test_the_first_admin_is_made_without_naming_anyone_and_then_admins_are_named(
    database_url: str,
) -> None:
    baton = Baton(database_url)
    assert baton("init-db").exit_code == 0
    first = baton("users", "add", "adam", "--role", "admin", "--name", "Adam Admin")
    assert first.exit_code == 0, err(first)
    # from now on BATON_USER names who acts, as for every command: the shell's ana is nobody here
    from_the_shell = baton("users", "add", "eve", "--role", "admin", "--name", "Eve")
    assert from_the_shell.exit_code == 1
    assert "'ana' is not a Baton user" in err(from_the_shell)
    named = baton("users", "add", "eve", "--role", "account_manager", "--name", "Eve", "--as", "adam")
    assert named.exit_code == 0, err(named)
    by_eve = baton("users", "add", "max", "--role", "admin", "--name", "Max", "--as", "eve")
    assert by_eve.exit_code == 1 and "eve may not manage users: only admins may" in err(by_eve)
