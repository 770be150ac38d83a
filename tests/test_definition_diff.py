"""What changed between two versions of a definition, in words, and the form checks of the editor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.xmlsafe import UnsafeXmlError
from workflows.definitions.diff import ADDED, CHANGED, REMOVED, diff_definitions, elements_of, form_changes
from workflows.definitions.forms import schema_problems

ROOT = Path(__file__).resolve().parent.parent
BEFORE = (ROOT / "tests" / "data" / "diff" / "before.bpmn").read_text(encoding="utf-8")
AFTER = (ROOT / "tests" / "data" / "diff" / "after.bpmn").read_text(encoding="utf-8")
ENGAGEMENT = (ROOT / "definitions" / "engagement.bpmn").read_text(encoding="utf-8")
BRIEF_WRITE = json.loads(
    (ROOT / "definitions" / "forms" / "brief_write.schema.json").read_text(encoding="utf-8")
)
BRIEF_APPROVE = json.loads(
    (ROOT / "definitions" / "forms" / "brief_approve.schema.json").read_text(encoding="utf-8")
)


def sentences(kind: str | None = None) -> list[str]:
    diff = diff_definitions(BEFORE, AFTER)
    return [line for c in diff.changes if kind in (None, c.kind) for line in c.details]


def test_a_renamed_step_is_changed_and_says_both_names() -> None:
    diff = diff_definitions(BEFORE, AFTER)
    assert "brief_write" in diff.ids(CHANGED)
    assert "Renamed task “Write brief” to “Write the brief”" in sentences(CHANGED)


def test_an_sla_change_reads_old_to_new() -> None:
    assert "SLA of Approve brief: 16bh → 8bh" in sentences(CHANGED)


def test_an_added_task_names_its_lane_and_settings() -> None:
    diff = diff_definitions(BEFORE, AFTER)
    assert diff.ids(ADDED) == ["timeline_plan", "f5"]
    assert "Added task Plan the timeline in lane Project Management (Stage planning, SLA 1bd)" in sentences(
        ADDED
    )
    assert "Added flow Plan the timeline → Done" in sentences(ADDED)


def test_a_removed_task_and_flow_and_a_flow_that_now_ends_elsewhere() -> None:
    diff = diff_definitions(BEFORE, AFTER)
    assert diff.ids(REMOVED) == ["kickoff", "f4"]
    assert sentences(REMOVED) == [
        "Removed task Kick-off call from lane Project Management",
        "Removed flow Kick-off call → Done",
    ]
    assert (
        "Flow f3 now goes Approve brief → Plan the timeline (was Approve brief → Kick-off call)"
        in sentences()
    )


def test_unchanged_elements_are_not_listed_and_the_order_is_added_changed_removed() -> None:
    diff = diff_definitions(BEFORE, AFTER)
    kinds = [c.kind for c in diff.changes]
    assert kinds == sorted(kinds, key=[ADDED, CHANGED, REMOVED].index)
    assert not {"start", "end", "f1", "f2", "lane_am"} & {c.element_id for c in diff.changes}
    assert not diff_definitions(BEFORE, BEFORE)


def test_moving_a_step_to_another_lane_and_its_properties_appearing_or_going() -> None:
    ref = "<bpmn:flowNodeRef>{}</bpmn:flowNodeRef>"
    moved = BEFORE.replace(ref.format("brief_approve") + "\n        ", "").replace(
        ref.format("kickoff"), ref.format("kickoff") + ref.format("brief_approve")
    )
    moved = moved.replace('<spiffworkflow:property name="sla" value="16bh" />', "").replace(
        '<spiffworkflow:property name="stage" value="brief" />\n          \n',
        '<spiffworkflow:property name="stage" value="brief" />\n'
        '<spiffworkflow:property name="approval" value="true" />\n',
    )
    [change] = diff_definitions(BEFORE, moved).changes
    assert change.element_id == "brief_approve"
    assert "Moved Approve brief from lane Account Management to lane Project Management" in change.details
    assert "SLA of Approve brief removed (was 16bh)" in change.details
    assert "Approval of Approve brief set to true" in change.details


def test_a_changed_form_marks_the_steps_using_it() -> None:
    richer = json.loads(json.dumps(BRIEF_WRITE))
    richer["properties"]["budget"] = {"type": "number", "title": "Budget"}
    richer["required"].append("budget")
    diff = diff_definitions(
        BEFORE, BEFORE, {"brief_write.schema.json": BRIEF_WRITE}, {"brief_write.schema.json": richer}
    )
    [change] = diff.changes
    assert (change.element_id, change.kind) == ("brief_write", CHANGED)
    assert change.details == ("Form of Write brief: added required field “Budget”",)


def test_form_changes_in_words() -> None:
    after = json.loads(json.dumps(BRIEF_WRITE))
    del after["properties"]["constraints"]
    after["properties"]["audience"]["maxLength"] = 200
    after["required"].remove("audience")
    assert form_changes(BRIEF_WRITE, after) == [
        "field “Audience” changed",
        "field “Audience” now optional",
        "removed field “Constraints”",
    ]


def test_a_changed_post_script_is_a_change() -> None:
    booking = elements_of(ENGAGEMENT)["supplier_booking"]
    assert booking.script.startswith("supplier_cost = sum(")
    cheaper = ENGAGEMENT.replace("s.get('cost', 0)", "s.get('cost', 0) * 0.9")
    [change] = diff_definitions(ENGAGEMENT, cheaper).changes
    assert change.details == ("Script of Book suppliers changed",)


def test_the_shipped_engagement_definition_is_read_whole() -> None:
    elements = elements_of(ENGAGEMENT)
    brief = elements["brief_write"]
    assert (brief.kind, brief.name, brief.lane) == ("task", "Write brief", "Project Management")
    assert brief.properties["sla"] == "2bd"
    assert brief.instructions.startswith("Write the creative brief")
    assert elements["flow_brief_approved"].condition == "brief_decision == 'approved'"


def test_a_document_with_a_doctype_is_refused() -> None:
    evil = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    with pytest.raises(UnsafeXmlError):
        diff_definitions(evil, BEFORE)


# -- the editor's checks of a form schema ---------------------------------------------------


def test_the_shipped_forms_have_no_problems() -> None:
    assert schema_problems(BRIEF_WRITE) == []
    assert schema_problems(BRIEF_APPROVE, approval=True) == []


def test_a_schema_the_meta_schema_refuses_says_where() -> None:
    broken = {**BRIEF_WRITE, "properties": {**BRIEF_WRITE["properties"], "audience": {"type": "text"}}}
    [problem] = schema_problems(broken)
    assert problem.kind == "schema" and problem.path == "/properties/audience/type"
    assert "not a valid JSON Schema" in problem.message


def test_what_the_task_page_cannot_show_is_a_problem_too() -> None:
    problems = schema_problems(
        {
            "type": "object",
            "properties": {
                "notes": {"title": "Notes"},
                "rows": {"type": "array", "items": {"type": "object"}},
            },
            "required": ["missing"],
        }
    )
    assert [(p.path, p.kind) for p in problems] == [
        ("/properties/notes", "page"),
        ("/properties/rows/items", "page"),
        ("/required", "page"),
    ]
    assert schema_problems({"type": "array"})[0].message == 'a form is an object: set "type": "object"'


def test_an_approval_form_must_keep_its_decision_vocabulary() -> None:
    without = json.loads(json.dumps(BRIEF_APPROVE))
    without["properties"]["brief_decision"]["enum"] = ["yes", "no"]
    [problem] = schema_problems(without, approval=True)
    assert problem.kind == "approval"
    assert "'brief_decision' must offer 'approved'" in problem.message
    assert schema_problems(without) == []  # not an approval step: any options will do
