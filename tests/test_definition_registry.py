"""The ops lead deploys process definitions: broken or hostile files are refused, versions are immutable.

Every refused definition must say what is wrong and where (the BPMN id of the element), and leave
nothing behind in the store. Accepted definitions become numbered, immutable versions: running
engagements stay on the version they started on.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.definitions import read_forms_dir
from engine.errors import DefinitionError, FormValidationError, LintIssue
from engine.models import DefinitionVersion, HumanTask, WorkflowInstance
from workflows.definitions.catalog import deploy_file
from workflows.demo import samples as stories
from workflows.engagements.lifecycle import start_engagement
from workflows.engagements.tasks import complete_task
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "definitions"
FAST_TRACK = (DEFINITIONS / "fast_track.bpmn").read_text(encoding="utf-8")
FORMS: dict[str, str] = read_forms_dir(DEFINITIONS / "forms")


# -- helpers -------------------------------------------------------------------------


def variant(*replacements: tuple[str, str], base: str = FAST_TRACK) -> str:
    """The fast-track definition with text replaced (each original must be present)."""
    text = base
    for old, new in replacements:
        assert old in text, f"test setup: {old!r} not found in the definition"
        text = text.replace(old, new)
    return text


def without(forms: Mapping[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in forms.items() if k != name}


def with_form(name: str, content: str) -> dict[str, str]:
    return {**FORMS, name: content}


def line_of(text: str, fragment: str) -> int:
    """1-based line number of the first occurrence of `fragment`."""
    return text[: text.index(fragment)].count("\n") + 1


def stored_versions(services: Services) -> int:
    """How many definition versions are stored (read in a fresh unit of work)."""
    with services.db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(DefinitionVersion)) or 0)


def refused(services: Services, bpmn: str | bytes, forms: Mapping[str, Any] | None = None) -> list[LintIssue]:
    """Deploy, expect a refusal, check nothing was stored; return the issues."""
    before = stored_versions(services)
    with services.db.unit_of_work() as session, pytest.raises(DefinitionError) as caught:
        services.definitions.deploy(session, bpmn, FORMS if forms is None else forms, note="hostile")
    assert stored_versions(services) == before, "a refused definition left rows behind"
    issues = list(caught.value.issues)
    assert issues, "a refusal must name at least one issue"
    for issue in issues:  # the exception's message carries every issue, for logs and the CLI
        assert issue.message in str(caught.value)
    return issues


def only_issue(issues: list[LintIssue]) -> LintIssue:
    assert len(issues) == 1, f"expected exactly one issue, got {[str(i) for i in issues]}"
    return issues[0]


def deploy_text(
    services: Services, bpmn: str, forms: Mapping[str, Any] | None = None
) -> tuple[int, int, bool]:
    """Deploy and return (row id, version, created)."""
    with services.db.unit_of_work() as session:
        row, created = services.definitions.deploy(session, bpmn, FORMS if forms is None else forms)
        return row.id, row.version, created


def start_fast_track(services: Services, name: str) -> tuple[int, int]:
    """Start a fast-track job; return (engagement id, instance id)."""
    with services.db.unit_of_work() as session:
        engagement = start_engagement(
            session, services, client="Acme", name=name, process_id=stories.FAST_TRACK, actor="olga"
        )
        return engagement.id, engagement.instance_id


def instance_definition(services: Services, instance_id: int) -> int:
    with services.db.unit_of_work(write=False) as session:
        instance = session.get(WorkflowInstance, instance_id)
        assert instance is not None
        return instance.definition_id


def open_task(services: Services, instance_id: int, bpmn_id: str) -> HumanTask:
    with services.db.unit_of_work(write=False) as session:
        task = session.scalar(
            select(HumanTask).where(
                HumanTask.instance_id == instance_id,
                HumanTask.bpmn_id == bpmn_id,
                HumanTask.state == "ready",
            )
        )
        assert task is not None, f"{bpmn_id} is not open"
        return task


def test_the_untouched_fast_track_definition_is_valid(services: Services) -> None:
    """Baseline: every hostile variant below differs from a definition with no issue at all."""
    assert services.definitions.validate(FAST_TRACK, FORMS) == []


# -- hostile and malformed XML ---------------------------------------------------------


def test_malformed_xml_is_refused_with_the_line_of_the_error(deployed: Services) -> None:
    bpmn = variant(("</bpmn:startEvent>", "</bpmn:startEvnt>"))
    issue = only_issue(refused(deployed, bpmn))
    assert issue.element_id is None
    assert "Malformed XML" in issue.message
    assert f"line {line_of(bpmn, '</bpmn:startEvnt>')}" in issue.message


XXE_DOCTYPE = '<!DOCTYPE bpmn:definitions [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
BILLION_LAUGHS_DOCTYPE = (
    '<!DOCTYPE bpmn:definitions [\n <!ENTITY lol0 "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10))
    + "]>\n"
)


def _with_doctype(doctype: str, reference: str = "") -> str:
    return variant(
        ("<bpmn:definitions ", doctype + "<bpmn:definitions "),
        ("<bpmn:documentation>Small job", f"<bpmn:documentation>{reference}Small job"),
    )


@pytest.mark.parametrize(
    "bpmn",
    [
        pytest.param(_with_doctype(XXE_DOCTYPE, "&x;"), id="xxe-file-etc-passwd"),
        pytest.param(_with_doctype(BILLION_LAUGHS_DOCTYPE, "&lol9;"), id="billion-laughs"),
        pytest.param(_with_doctype("<!DOCTYPE bpmn:definitions>\n"), id="doctype-alone"),
        pytest.param(
            _with_doctype('<!DOCTYPE bpmn:definitions SYSTEM "http://127.0.0.1:9/evil.dtd">\n'),
            id="external-dtd",
        ),
        pytest.param(
            _with_doctype(XXE_DOCTYPE, "&x;").encode("utf-16"),
            id="xxe-in-utf16",
        ),
    ],
)
def test_documents_with_a_doctype_are_refused_before_any_entity_is_expanded(
    deployed: Services, bpmn: str | bytes
) -> None:
    started = time.monotonic()
    issue = only_issue(refused(deployed, bpmn))
    assert time.monotonic() - started < 5, "the refusal must not expand entities first"
    assert issue.element_id is None
    assert issue.code == "xml"
    assert "DOCTYPE declarations are not allowed" in issue.message
    assert "root:" not in issue.message  # nothing of /etc/passwd leaks into the error


def test_an_xsd_violation_is_refused_with_its_line(deployed: Services) -> None:
    bpmn = variant(
        (
            '<bpmn:exclusiveGateway id="gw_qc" ',
            '<bpmn:exclusiveGateway gatewayDirection="Sideways" id="gw_qc" ',
        )
    )
    issue = only_issue(refused(deployed, bpmn))
    assert issue.code == "bpmn"
    assert "gatewayDirection" in issue.message and "Sideways" in issue.message
    assert f"(line {line_of(bpmn, 'Sideways')})" in issue.message


def test_an_unknown_element_is_an_xsd_violation(deployed: Services) -> None:
    bpmn = variant(
        (
            '<bpmn:startEvent id="start" name="Job opened">',
            '<bpmn:startEvent id="start" name="Job opened"><bpmn:frobnicate />',
        )
    )
    issue = only_issue(refused(deployed, bpmn))
    assert "frobnicate" in issue.message and "not expected" in issue.message
    assert f"(line {line_of(bpmn, 'frobnicate')})" in issue.message


def test_a_file_with_two_executable_processes_is_refused(deployed: Services) -> None:
    other = (
        '<bpmn:process id="side_job" isExecutable="true">'
        '<bpmn:startEvent id="side_start" /></bpmn:process>\n  '
    )
    bpmn = variant(("<bpmndi:BPMNDiagram", other + "<bpmndi:BPMNDiagram"))
    issue = only_issue(refused(deployed, bpmn))
    assert "2 executable processes" in issue.message
    assert 'isExecutable="true"' in issue.message


def test_a_second_process_that_is_not_executable_is_fine(services: Services) -> None:
    other = (
        '<bpmn:process id="notes" isExecutable="false">'
        '<bpmn:startEvent id="notes_start" /></bpmn:process>\n  '
    )
    bpmn = variant(("<bpmndi:BPMNDiagram", other + "<bpmndi:BPMNDiagram"))
    assert services.definitions.validate(bpmn, FORMS) == []


# -- agency rules, forms and expressions ----------------------------------------------------

SCRIPT = "budget = float(options.get('budget', 0))"
BOUNDARY_TIMER = """<bpmn:boundaryEvent id="production_overdue" attachedToRef="production"
        cancelActivity="false">
      <bpmn:outgoing>flow_overdue</bpmn:outgoing>
      <bpmn:timerEventDefinition id="production_overdue_timer">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P2X"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="end_overdue"><bpmn:incoming>flow_overdue</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="flow_overdue" sourceRef="production_overdue" targetRef="end_overdue" />
    """
INTERMEDIATE_TIMER = """<bpmn:intermediateCatchEvent id="cooling_off">
      <bpmn:incoming>flow_options_to_brief</bpmn:incoming>
      <bpmn:outgoing>flow_cooled_off</bpmn:outgoing>
      <bpmn:timerEventDefinition id="cooling_off_timer">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P2X"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="flow_cooled_off" sourceRef="cooling_off" targetRef="brief_write" />
    """


# the PM lane's role declaration, removed to make a lane Baton cannot staff
PM_ROLE_DECLARED = (
    """<bpmn:extensionElements>
          <spiffworkflow:properties>
            <spiffworkflow:property name="role" value="project_manager" />
          </spiffworkflow:properties>
        </bpmn:extensionElements>
        <bpmn:flowNodeRef>brief_write</bpmn:flowNodeRef>""",
    "<bpmn:flowNodeRef>brief_write</bpmn:flowNodeRef>",
)


def _script(source: str) -> str:
    return variant((SCRIPT, source.replace("'", "&apos;")))


CASES = [
    pytest.param(
        variant(("<bpmn:flowNodeRef>qc_check</bpmn:flowNodeRef>", "")),
        FORMS,
        "qc_check",
        "lane",
        ["Check quality", "not in any lane"],
        id="user-task-outside-any-lane",
    ),
    pytest.param(
        variant(('name="Project Management"', 'name="Studio"'), PM_ROLE_DECLARED),
        FORMS,
        "lane_pm",
        "lane",
        ["unknown lane 'Studio' without a role", "Account Management, Project Management"],
        id="unknown-lane-without-a-role",
    ),
    pytest.param(
        variant(('value="project_manager"', 'value="studio_manager"')),
        FORMS,
        "lane_pm",
        "lane",
        ["lane 'Project Management' has unknown role 'studio_manager'", "account_manager, project_manager"],
        id="lane-with-an-unknown-role",
    ),
    pytest.param(
        variant(('name="stage" value="qc"', 'name="stage" value="qa"')),
        FORMS,
        "qc_check",
        "stage",
        ["unknown stage 'qa'"],
        id="unknown-stage",
    ),
    pytest.param(
        variant(('name="sla" value="4bh"', 'name="sla" value="3 weeks"')),
        FORMS,
        "qc_check",
        "sla",
        ["'3 weeks' is not a business-time SLA"],
        id="sla-3-weeks",
    ),
    pytest.param(
        variant(('name="sla" value="4bh"', 'name="sla" value="0bd"')),
        FORMS,
        "qc_check",
        "sla",
        ["SLA '0bd' must be greater than zero"],
        id="sla-zero",
    ),
    pytest.param(
        FAST_TRACK,
        without(FORMS, "qc_check.schema.json"),
        "qc_check",
        "form",
        ["qc_check.schema.json", "file not found"],
        id="missing-form-file",
    ),
    pytest.param(
        FAST_TRACK,
        with_form("qc_check.schema.json", '{"type": 12}'),
        "qc_check",
        "form",
        ["qc_check.schema.json", "not a valid JSON Schema"],
        id="form-not-json-schema",
    ),
    pytest.param(
        FAST_TRACK,
        with_form("qc_check.schema.json", '{"type": "object", '),
        "qc_check",
        "form",
        ["qc_check.schema.json", "not valid JSON"],
        id="form-not-json",
    ),
    pytest.param(
        variant(("qc_decision == 'pass'", "decision ==")),
        FORMS,
        "gw_qc",
        "condition",
        ["'decision =='", "SyntaxError"],
        id="condition-does-not-compile",
    ),
    pytest.param(
        _script("import os"),
        FORMS,
        "apply_options",
        "script",
        ["import statements are not allowed"],
        id="script-import-os",
    ),
    pytest.param(
        _script("__import__('os').system('id')"),
        FORMS,
        "apply_options",
        "script",
        ['"__import__" is an invalid variable name'],
        id="script-dunder-import",
    ),
    pytest.param(
        _script("().__class__.__base__.__subclasses__()"),
        FORMS,
        "apply_options",
        "script",
        ['"__subclasses__" is an invalid attribute name', '"__class__"'],
        id="script-subclasses-escape",
    ),
    pytest.param(
        variant(
            (
                "<spiffworkflow:instructionsForEndUser>Check the work",
                "<spiffworkflow:preScript>().__class__.__bases__</spiffworkflow:preScript>"
                "<spiffworkflow:instructionsForEndUser>Check the work",
            ),
        ),
        FORMS,
        "qc_check",
        "script",
        ["prescript does not compile", "__bases__"],
        id="prescript-escape",
    ),
    pytest.param(
        variant(('<bpmn:endEvent id="end_delivered"', BOUNDARY_TIMER + '<bpmn:endEvent id="end_delivered"')),
        FORMS,
        "production_overdue",
        "timer",
        ["'P2X' is not valid ISO 8601"],
        id="boundary-timer-p2x",
    ),
    pytest.param(
        variant(
            (
                'sourceRef="apply_options" targetRef="brief_write"',
                'sourceRef="apply_options" targetRef="cooling_off"',
            ),
            (
                "<bpmn:flowNodeRef>apply_options</bpmn:flowNodeRef>",
                "<bpmn:flowNodeRef>apply_options</bpmn:flowNodeRef><bpmn:flowNodeRef>cooling_off</bpmn:flowNodeRef>",
            ),
            ('<bpmn:userTask id="brief_write"', INTERMEDIATE_TIMER + '<bpmn:userTask id="brief_write"'),
        ),
        FORMS,
        "cooling_off",
        "timer",
        ["'P2X' is not valid ISO 8601"],
        id="intermediate-timer-p2x",
    ),
]


@pytest.mark.parametrize(("bpmn", "forms", "element", "code", "fragments"), CASES)
def test_a_broken_definition_is_refused_naming_the_element_and_the_problem(
    deployed: Services, bpmn: str, forms: dict[str, str], element: str, code: str, fragments: list[str]
) -> None:
    issue = only_issue(refused(deployed, bpmn, forms))
    assert issue.element_id == element
    assert issue.code == code
    for fragment in fragments:
        assert fragment in issue.message
    assert str(issue).startswith(f"[{element}] ")


def test_validate_reports_every_problem_at_once(services: Services) -> None:
    bpmn = variant(
        ("<bpmn:flowNodeRef>client_feedback</bpmn:flowNodeRef>", ""),
        ('name="sla" value="2bd"', 'name="sla" value="3 weeks"'),
        ('name="stage" value="qc"', 'name="stage" value="qa"'),
        ("qc_decision == 'pass'", "decision =="),
        (SCRIPT, "import os"),
        ('name="Project Management"', 'name="Studio"'),
        PM_ROLE_DECLARED,
    )
    forms = with_form("qc_check.schema.json", '{"type": 12}')
    forms.pop("production.schema.json")

    issues = services.definitions.validate(bpmn, forms)
    found = {(i.element_id, i.code) for i in issues}
    assert found == {
        ("client_feedback", "lane"),
        ("brief_write", "sla"),
        ("qc_check", "stage"),
        ("qc_check", "form"),
        ("production", "form"),
        ("gw_qc", "condition"),
        ("apply_options", "script"),
        ("lane_pm", "lane"),
    }
    assert len(issues) == len(found)
    # deploying the same file is refused with the same list, and stores nothing
    assert {(i.element_id, i.code) for i in refused(services, bpmn, forms)} == found
    assert stored_versions(services) == 0


# -- versions ----------------------------------------------------------------------------------


def test_deploying_the_same_content_twice_gives_the_same_version(deployed: Services) -> None:
    before = stored_versions(deployed)
    with deployed.db.unit_of_work() as session:
        first = deployed.definitions.latest(session, "fast_track")
        again, created = deploy_file(
            session, deployed, DEFINITIONS / "fast_track.bpmn", actor="olga", note="again"
        )
        assert created is False
        assert (again.id, again.version) == (first.id, 1)
        raw, created_raw = deployed.definitions.deploy(session, FAST_TRACK.encode("utf-8"), dict(FORMS))
        assert created_raw is False and raw.id == first.id
        # forms no task references do not make a new version either
        extra, created_extra = deployed.definitions.deploy(
            session, FAST_TRACK, {**FORMS, "unused.schema.json": '{"type": "object"}'}
        )
        assert created_extra is False and extra.id == first.id
    assert stored_versions(deployed) == before


def test_a_new_sla_makes_version_two_and_running_engagements_stay_on_version_one(deployed: Services) -> None:
    clock = deployed.runtime.clock
    old_engagement, old_instance = start_fast_track(deployed, "Started on v1")
    with deployed.db.unit_of_work(write=False) as session:
        v1 = deployed.definitions.latest(session, "fast_track")
        v1_id = v1.id
    assert v1.version == 1
    assert instance_definition(deployed, old_instance) == v1_id

    v2_id, version, created = deploy_text(
        deployed, variant(('name="sla" value="2bd"', 'name="sla" value="5bd"'))
    )
    assert (version, created) == (2, True)
    assert v2_id != v1_id

    new_engagement, new_instance = start_fast_track(deployed, "Started on v2")
    assert instance_definition(deployed, old_instance) == v1_id
    assert instance_definition(deployed, new_instance) == v2_id

    # each brief is due by its own version's SLA (both started at the same moment)
    old_brief, new_brief = (
        open_task(deployed, old_instance, "brief_write"),
        open_task(deployed, new_instance, "brief_write"),
    )
    assert old_brief.properties["sla"] == "2bd" and new_brief.properties["sla"] == "5bd"
    assert old_brief.due_at is not None and new_brief.due_at is not None
    assert clock() < old_brief.due_at < new_brief.due_at

    # the engagement started on v1 keeps working on v1
    with deployed.db.unit_of_work() as session:
        complete_task(session, deployed, old_engagement, "brief_write", stories.brief_write(), actor="pete")
    assert open_task(deployed, old_instance, "production").properties["sla"] == "10bd"
    assert instance_definition(deployed, old_instance) == v1_id
    assert new_engagement != old_engagement


def test_versions_are_listed_newest_first(deployed: Services) -> None:
    for sla in ("3bd", "4bd"):
        deploy_text(deployed, variant(('name="sla" value="2bd"', f'name="sla" value="{sla}"')))
    with deployed.db.unit_of_work(write=False) as session:
        fast = deployed.definitions.list_versions(session, "fast_track")
        assert [r.version for r in fast] == [3, 2, 1]
        assert deployed.definitions.latest(session, "fast_track").version == 3
        everything = [(r.process_id, r.version) for r in deployed.definitions.list_versions(session)]
        assert everything == [("engagement", 1), ("fast_track", 3), ("fast_track", 2), ("fast_track", 1)]


def test_a_deployed_version_keeps_the_forms_it_was_deployed_with(deployed: Services, tmp_path: Path) -> None:
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, folder)
    with deployed.db.unit_of_work() as session:
        v1, created = deploy_file(session, deployed, folder / "fast_track.bpmn", actor="olga")
        v1_id = v1.id
    assert created is False and v1.version == 1  # the copy is identical to what the fixture deployed

    # the PM lead tightens the brief form on disk: the deployed version does not change
    form_file = folder / "forms" / "brief_write.schema.json"
    schema = json.loads(form_file.read_text(encoding="utf-8"))
    original_brief_schema = json.loads(json.dumps(schema))
    schema["properties"]["brand_guidelines_url"] = {"type": "string", "format": "uri"}
    schema["required"].append("brand_guidelines_url")
    form_file.write_text(json.dumps(schema), encoding="utf-8")

    engagement_v1, _ = start_fast_track(deployed, "Old form")
    with deployed.db.unit_of_work(write=False) as session:
        row = deployed.definitions.get(session, v1_id)
        assert row.forms["brief_write.schema.json"] == original_brief_schema

    # redeploying from the changed folder makes version 2 carrying the new form
    with deployed.db.unit_of_work() as session:
        v2, created = deploy_file(
            session, deployed, folder / "fast_track.bpmn", actor="olga", note="brand guidelines"
        )
        assert (v2.version, created) == (2, True)
    engagement_v2, _ = start_fast_track(deployed, "New form")
    with deployed.db.unit_of_work(write=False) as session:
        assert (
            deployed.definitions.get(session, v1_id).forms["brief_write.schema.json"] == original_brief_schema
        )
        assert (
            "brand_guidelines_url"
            in deployed.definitions.latest(session, "fast_track").forms["brief_write.schema.json"]["required"]
        )

    # each engagement's form is checked against its own version
    with deployed.db.unit_of_work() as session:
        complete_task(session, deployed, engagement_v1, "brief_write", stories.brief_write(), actor="pete")
    with deployed.db.unit_of_work() as session, pytest.raises(FormValidationError) as caught:
        complete_task(session, deployed, engagement_v2, "brief_write", stories.brief_write(), actor="pete")
    assert any("brand_guidelines_url" in f"{e.path} {e.message}" for e in caught.value.errors)
