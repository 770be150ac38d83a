"""The account manager and the ops lead drive Baton from the `baton` command line.

The real click CLI runs in-process (CliRunner) against the test database; the installed
console script is run once as a subprocess to prove the entry point works.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from workflows.demo import samples as stories

ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "definitions"
# wide enough that rich tables never wrap a cell; no colours; ana at the keyboard where no --as is given
CLI_ENV = {"COLUMNS": "200", "LINES": "100", "NO_COLOR": "1", "BATON_USER": "ana"}


class Baton:
    """Runs `baton --db <url> --definitions <repo>/definitions ...` in-process."""

    def __init__(self, database_url: str, *, user: str | None = None) -> None:
        self.database_url = database_url
        self.env = {**CLI_ENV, **({"BATON_USER": user} if user else {})}  # who is at the keyboard
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        obj: dict[str, Any] = {}
        try:
            return self.runner.invoke(
                cli,
                ["--db", self.database_url, "--definitions", str(DEFINITIONS), *args],
                obj=obj,
                env=self.env,
            )
        finally:
            services = obj.get("services")
            if services is not None:  # each invocation builds its own engine: close its pool
                services.db.dispose()


def out(result: Result) -> str:
    return click.unstyle(result.stdout)


def err(result: Result) -> str:
    return click.unstyle(result.stderr)


def ok(result: Result) -> str:
    """The standard output of a command that must have succeeded."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return out(result)


@pytest.fixture
def baton(database_url: str) -> Baton:
    return Baton(database_url)


@pytest.fixture
def initialised(baton: Baton) -> Baton:
    """A database with the definitions deployed, ana (an AM), pete (a PM) and olga (an ops lead)."""
    ok(baton("init-db"))
    ok(baton("users", "add", "ana", "--role", "account_manager", "--name", "Ana Alvarez"))
    ok(baton("users", "add", "pete", "--role", "project_manager", "--name", "Pete Novak"))
    ok(baton("users", "add", "olga", "--role", "ops_lead", "--name", "Olga Berg"))
    return baton


def started_engagement(text: str) -> int:
    match = re.search(r"started engagement (\d+): ", text)
    assert match, text
    return int(match.group(1))


# -- the story -----------------------------------------------------------------------------------


def test_the_account_manager_runs_an_engagement_from_the_command_line(baton: Baton) -> None:
    # the ops lead sets up the database: both standard definitions are deployed
    text = ok(baton("init-db"))
    assert "database ready" in text
    assert "deployed: engagement v1" in text
    assert "deployed: fast_track v1" in text

    # running it again changes nothing
    text = ok(baton("init-db"))
    assert "unchanged: engagement v1" in text and "unchanged: fast_track v1" in text

    # the ops lead adds the people: two AMs and a PM
    text = ok(
        baton(
            "users",
            "add",
            "ana",
            "--role",
            "account_manager",
            "--name",
            "Ana Alvarez",
            "--email",
            "ana@agency.example",
        )
    )
    assert "added ana (Ana Alvarez): account_manager" in text
    ok(baton("users", "add", "alex", "--role", "account_manager", "--name", "Alex Chen"))
    ok(baton("users", "add", "pete", "--role", "project_manager", "--name", "Pete Novak"))
    people = ok(baton("users", "list"))
    assert re.search(
        r"ana\s+│\s+Ana Alvarez\s+│\s+ana@agency.example\s+│\s+account_manager\s+│\s+yes", people
    )
    assert re.search(r"pete\s+│\s+Pete Novak\s+│\s+│\s+project_manager", people)

    # the definitions deployed at set-up, as ana reads them
    listing = ok(baton("definitions", "list"))
    assert re.search(r"engagement\s+│\s+1\s+│\s+Engagement\s", listing)
    assert re.search(r"fast_track\s+│\s+1\s+│\s+Fast-track job\s", listing)
    assert "initial deployment" in listing

    # the AM starts an engagement where the PM joins scoping, with ana and pete as its team
    text = ok(
        baton(
            "start",
            "--client",
            "Acme",
            "--name",
            "Rebrand",
            "--option",
            "pm_joins_scoping=true",
            "--am",
            "ana",
            "--pm",
            "pete",
            "--as",
            "ana",
        )
    )
    engagement = started_engagement(text)
    assert engagement == 1  # the first engagement of a fresh store
    assert f"started engagement {engagement}: Acme / Rebrand (engagement)" in text
    assert "pitch_prepare — Prepare pitch" in text
    assert "Account Management" in text and "pitch" in text

    # it is waiting in the AM lane, assigned to ana, and nothing is waiting for the PMs yet
    inbox = ok(baton("tasks", "--lane", "Account Management"))
    assert f"{engagement} Acme" in inbox and "pitch_prepare — Prepare pitch" in inbox
    assert re.search(r"pitch_prepare — Prepare pitch .*│\s+ana\s+│", inbox)
    assert ok(baton("tasks", "--lane", "Project Management")).strip() == "no open tasks"
    assert "pitch_prepare" in ok(baton("tasks", "--for", "ana"))
    assert ok(baton("tasks", "--for", "alex")).strip() == "no open tasks"

    # pete, a PM, cannot do the AM's work
    result = baton("complete", str(engagement), "pitch_prepare", "--as", "pete", "--data", "{}")
    assert result.exit_code == 1
    assert "refused: pete may not complete pitch_prepare (Account Management)" in err(result)

    # the AM submits an incomplete form: refused, every failing field listed, nothing changes
    bad = {"pitch_date": "next tuesday", "budget_note": "tbc"}
    result = baton("complete", str(engagement), "pitch_prepare", "--as", "ana", "--data", json.dumps(bad))
    assert result.exit_code == 1
    message = err(result)
    assert "the form pitch_prepare.schema.json is invalid" in message
    assert "pitch_summary: " in message and "required" in message
    assert "pitch_date: 'next tuesday' is not a 'date'" in message
    assert "'budget_note' was unexpected" in message
    assert "pitch_prepare" in ok(baton("tasks", "--engagement", str(engagement)))

    # with the data from the story it goes through and the next step is shown
    data = json.dumps(stories.pitch_prepare())
    text = ok(baton("complete", str(engagement), "pitch_prepare", "--as", "ana", "--data", data))
    assert f"completed pitch_prepare; engagement {engagement} is running" in text
    assert "pitch_outcome — Record pitch outcome" in text
    assert "pitch_prepare —" not in text

    # the engagement page in the terminal
    page = ok(baton("show", str(engagement)))
    assert f"Acme — Rebrand (engagement {engagement})" in page
    assert "definition engagement v1; status running" in page
    assert "stage: pitch" in page
    assert "team: account manager ana, project manager pete" in page
    assert "open tasks" in page and "pitch_outcome — Record pitch outcome" in page
    assert "history" in page
    events = re.findall(r"│\s+(started|task_ready|task_completed)\s+│\s+([a-z_]*)\s+│", page)
    assert events == [
        ("started", ""),
        ("task_ready", "pitch_prepare"),
        ("task_completed", "pitch_prepare"),
        ("task_ready", "pitch_outcome"),
    ]

    # and it is listed among the engagements, running, in the pitch stage
    listing = ok(baton("engagements"))
    assert re.search(
        rf"│\s+{engagement}\s+│\s+Acme\s+│\s+Rebrand\s+│\s+engagement\s+│\s+running\s+│\s+pitch", listing
    )


def test_form_data_can_come_from_a_file(initialised: Baton, tmp_path: Path) -> None:
    engagement = started_engagement(ok(initialised("start", "--client", "Acme", "--name", "From file")))
    data_file = tmp_path / "pitch.json"
    data_file.write_text(json.dumps(stories.pitch_prepare()), encoding="utf-8")
    text = ok(
        initialised("complete", str(engagement), "pitch_prepare", "--as", "ana", "--data", f"@{data_file}")
    )
    assert "completed pitch_prepare" in text and "pitch_outcome" in text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param("{pitch_summary: nope", "not valid JSON", id="not-json"),
        pytest.param("[1, 2]", "the form data must be a JSON object", id="not-an-object"),
    ],
)
def test_completing_with_data_that_is_not_a_json_object_is_refused(
    initialised: Baton, data: str, expected: str
) -> None:
    engagement = started_engagement(ok(initialised("start", "--client", "Acme", "--name", "Bad data")))
    result = initialised("complete", str(engagement), "pitch_prepare", "--data", data)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # a usage error, not a crash
    assert "--data" in err(result) and expected in err(result)
    assert "pitch_prepare" in ok(initialised("tasks", "--engagement", str(engagement)))


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("show", "999"), id="show"),
        pytest.param(("complete", "999", "pitch_prepare", "--data", "{}"), id="complete"),
    ],
)
def test_an_unknown_engagement_is_a_clear_error(initialised: Baton, args: tuple[str, ...]) -> None:
    result = initialised(*args)
    assert result.exit_code == 1
    assert "no engagement 999" in err(result)
    assert "Traceback" not in result.output


def test_an_unknown_task_is_a_clear_error(initialised: Baton) -> None:
    engagement = started_engagement(ok(initialised("start", "--client", "Acme", "--name", "Typo")))
    result = initialised("complete", str(engagement), "pitch_prepared", "--data", "{}")
    assert result.exit_code == 1
    assert f"engagement {engagement} has no open task 'pitch_prepared'" in err(result)


def test_names_with_brackets_are_printed_as_typed(initialised: Baton) -> None:
    """Rich markup must not swallow (or choke on) text that looks like a tag."""
    text = ok(initialised("start", "--client", "Acme [uk]", "--name", "Rebrand [/phase two]"))
    assert "Acme [uk] / Rebrand [/phase two]" in text
    engagement = started_engagement(text)
    assert f"{engagement} Acme [uk]" in ok(initialised("tasks"))
    assert "Acme [uk] — Rebrand [/phase two]" in ok(initialised("show", str(engagement)))
    listing = ok(initialised("engagements"))
    assert "Acme [uk]" in listing and "Rebrand [/phase two]" in listing


# -- definitions ---------------------------------------------------------------------------------


def test_validating_a_good_definition_exits_zero(baton: Baton) -> None:
    for name in ("engagement.bpmn", "fast_track.bpmn"):
        text = ok(baton("definitions", "validate", str(DEFINITIONS / name)))
        assert f"{name}: valid" in text


def _broken_copy(tmp_path: Path, *, with_forms: bool = True) -> Path:
    bpmn = (DEFINITIONS / "fast_track.bpmn").read_text(encoding="utf-8")
    for old, new in [
        ('name="stage" value="qc"', 'name="stage" value="qa"'),
        ("<bpmn:flowNodeRef>client_feedback</bpmn:flowNodeRef>", ""),
    ]:
        assert old in bpmn
        bpmn = bpmn.replace(old, new)
    path = tmp_path / "broken.bpmn"
    path.write_text(bpmn, encoding="utf-8")
    if with_forms:
        shutil.copytree(DEFINITIONS / "forms", tmp_path / "forms")
    return path


def test_validating_a_broken_definition_exits_one_naming_the_elements(baton: Baton, tmp_path: Path) -> None:
    path = _broken_copy(tmp_path)
    result = baton("definitions", "validate", str(path))
    assert result.exit_code == 1
    message = err(result)
    assert "broken.bpmn: 2 problem(s)" in message
    assert "[qc_check] unknown stage 'qa'" in message
    assert "[client_feedback] task 'Get client feedback' is not in any lane" in message


def test_validating_without_the_forms_folder_names_each_missing_form(baton: Baton, tmp_path: Path) -> None:
    path = tmp_path / "fast_track.bpmn"
    shutil.copy(DEFINITIONS / "fast_track.bpmn", path)
    result = baton("definitions", "validate", str(path))
    assert result.exit_code == 1
    for task in ("brief_write", "production", "qc_check", "client_feedback"):
        assert f"[{task}] form {task}.schema.json: file not found" in err(result)
    # pointing at the forms folder makes it valid
    assert "fast_track.bpmn: valid" in ok(
        baton("definitions", "validate", str(path), "--forms", str(DEFINITIONS / "forms"))
    )


def test_a_hostile_file_is_refused_by_validate_and_deploy(initialised: Baton, tmp_path: Path) -> None:
    bpmn = (DEFINITIONS / "fast_track.bpmn").read_text(encoding="utf-8")
    xxe = '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<bpmn:definitions '
    path = tmp_path / "fast_track.bpmn"
    path.write_text(bpmn.replace("<bpmn:definitions ", xxe, 1).replace("Small job", "&x; Small job"))
    shutil.copytree(DEFINITIONS / "forms", tmp_path / "forms")

    result = initialised("definitions", "validate", str(path))
    assert result.exit_code == 1
    assert "DOCTYPE declarations are not allowed" in err(result)
    assert "root:" not in result.output

    result = initialised("definitions", "deploy", str(path), "--as", "olga")
    assert result.exit_code == 1
    assert "the definition is refused" in err(result) and "DOCTYPE" in err(result)
    listing = ok(initialised("definitions", "list"))
    assert not re.search(r"fast_track\s+│\s+2", listing)


def test_deploying_a_changed_definition_makes_a_new_version(initialised: Baton, tmp_path: Path) -> None:
    bpmn = (DEFINITIONS / "fast_track.bpmn").read_text(encoding="utf-8")
    path = tmp_path / "fast_track.bpmn"
    path.write_text(bpmn.replace('name="sla" value="4bh"', 'name="sla" value="6bh"'), encoding="utf-8")
    shutil.copytree(DEFINITIONS / "forms", tmp_path / "forms")
    text = ok(initialised("definitions", "deploy", str(path), "--note", "slower QC", "--as", "olga"))
    assert "deployed fast_track v2" in text
    again = ok(initialised("definitions", "deploy", str(path), "--as", "olga"))
    assert "unchanged (identical to) fast_track v2" in again
    listing = ok(initialised("definitions", "list"))
    rows = re.findall(r"│\s+(engagement|fast_track)\s+│\s+(\d+)\s+│", listing)
    assert rows == [("engagement", "1"), ("fast_track", "2"), ("fast_track", "1")]
    assert "slower QC" in listing and "olga" in listing  # the deployer: a real ops lead


# -- the installed console script ----------------------------------------------------------------


def _baton_script() -> Path:
    script = Path(sys.executable).parent / ("baton.exe" if os.name == "nt" else "baton")
    found = script if script.exists() else shutil.which("baton")
    assert found, "the `baton` console script is not installed (pip install -e .)"
    return Path(found)


def test_the_installed_console_script_works(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(CLI_ENV)
    script = str(_baton_script())

    helped = subprocess.run([script, "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert helped.returncode == 0, helped.stderr
    for command in (
        "init-db",
        "definitions",
        "start",
        "tasks",
        "complete",
        "show",
        "users",
        "claim",
        "cover",
    ):
        assert command in helped.stdout

    url = f"sqlite:///{tmp_path}/x.sqlite3"
    done = subprocess.run(
        [script, "--db", url, "init-db"], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "deployed: engagement v1" in done.stdout and "deployed: fast_track v1" in done.stdout
    assert (tmp_path / "x.sqlite3").exists()
