"""The BPMN definitions and their forms, run in memory with plain SpiffWorkflow (no engine, no database)."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import UserTask
from SpiffWorkflow.util.task import TaskState

from workflows.demo.samples import STORIES, Story, qc_rounds_story

DEFINITIONS = Path(__file__).resolve().parent.parent / "definitions"
FORMS = DEFINITIONS / "forms"
BPMN_FILES = {"engagement": DEFINITIONS / "engagement.bpmn", "fast_track": DEFINITIONS / "fast_track.bpmn"}
LANES = {"Account Management", "Project Management"}
STAGES = {"pitch", "scope", "brief", "timeline", "resourcing", "production", "qc", "feedback", "review"}
SLA = re.compile(r"^\d+(bh|bd)$")


@cache
def parser() -> SpiffBpmnParser:
    p = SpiffBpmnParser(validator=VALIDATOR)
    for path in BPMN_FILES.values():
        p.add_bpmn_file(str(path))
    return p


def spec(process_id: str):
    return parser().get_spec(process_id)


@cache
def form_validator(filename: str) -> Draft202012Validator:
    schema = json.loads((FORMS / filename).read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def user_task_specs(process_id: str) -> list[UserTask]:
    return [ts for ts in spec(process_id).task_specs.values() if isinstance(ts, UserTask)]


def ready_user_tasks(wf: BpmnWorkflow):
    return wf.get_tasks(state=TaskState.READY, manual=True)


def start(story: Story) -> BpmnWorkflow:
    wf = BpmnWorkflow(spec(story.definition))
    wf.get_next_task(state=TaskState.READY).set_data(**copy.deepcopy(story.start_data))
    wf.do_engine_steps()
    return wf


def play(story: Story) -> BpmnWorkflow:
    wf = start(story)
    for i, step in enumerate(story.steps):
        ready = {t.task_spec.bpmn_id: t for t in ready_user_tasks(wf)}
        assert step.task in ready, f"step {i} ({step.task}): ready user tasks are {sorted(ready)}"
        task = ready[step.task]
        errors = [
            e.message
            for e in form_validator(
                task.task_spec.extensions["properties"]["formJsonSchemaFilename"]
            ).iter_errors(step.data)
        ]
        assert not errors, f"step {i} ({step.task}): form data invalid: {errors}"
        task.set_data(**copy.deepcopy(step.data))
        task.run()
        wf.do_engine_steps()
    assert not ready_user_tasks(wf), "story is over but user tasks are still waiting"
    assert wf.is_completed()
    return wf


def end_events_reached(wf: BpmnWorkflow) -> list[str]:
    return [
        t.task_spec.bpmn_id
        for t in wf.get_tasks(state=TaskState.COMPLETED)
        if isinstance(t.task_spec, EndEvent)
    ]


def replay(name: str) -> BpmnWorkflow:
    story = STORIES[name]
    wf = play(story)
    assert end_events_reached(wf) == [story.end_event]
    for key, value in story.expected_data.items():
        assert wf.data.get(key) == value, f"{key}: {wf.data.get(key)!r} != {value!r}"
    return wf


# ---------------------------------------------------------------- the definitions themselves


def test_both_definitions_parse_with_the_spiff_schema_validator():
    assert set(parser().get_process_ids()) == {"engagement", "fast_track"}


@pytest.mark.parametrize("process_id", sorted(BPMN_FILES))
def test_every_user_task_has_a_lane_a_stage_an_sla_and_a_valid_form(process_id):
    specs = user_task_specs(process_id)
    assert specs
    for ts in specs:
        props = ts.extensions.get("properties", {})
        assert ts.bpmn_name, f"{ts.bpmn_id} has no name"
        assert ts.lane in LANES, f"{ts.bpmn_id} lane {ts.lane!r}"
        assert props.get("stage") in STAGES, f"{ts.bpmn_id} stage {props.get('stage')!r}"
        assert SLA.match(props.get("sla", "")), f"{ts.bpmn_id} sla {props.get('sla')!r}"
        assert props.get("waits_on_client", "true") == "true"
        assert ts.extensions.get("instructionsForEndUser"), f"{ts.bpmn_id} has no instructions"
        form = FORMS / props["formJsonSchemaFilename"]
        assert form.name == props["formJsonSchemaFilename"] and form.is_file(), form
        schema = json.loads(form.read_text())
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["type"] == "object" and schema["title"] and schema["description"]


def test_the_client_facing_steps_are_flagged_as_waiting_on_the_client():
    waiting = {
        ts.bpmn_id
        for ts in user_task_specs("engagement")
        if ts.extensions["properties"].get("waits_on_client") == "true"
    }
    assert waiting == {"scope_signoff", "change_order", "client_feedback"}


def test_every_form_file_is_used_and_is_a_valid_schema():
    used = {
        ts.extensions["properties"]["formJsonSchemaFilename"]
        for pid in BPMN_FILES
        for ts in user_task_specs(pid)
    }
    # a start event names the schema of the options a starter may set
    used |= {
        ts.extensions["properties"]["optionsJsonSchemaFilename"]
        for pid in BPMN_FILES
        for ts in spec(pid).task_specs.values()
        if "optionsJsonSchemaFilename" in getattr(ts, "extensions", {}).get("properties", {})
    }
    on_disk = {p.name for p in FORMS.glob("*.schema.json")}
    assert used == on_disk
    for name in on_disk:
        Draft202012Validator.check_schema(json.loads((FORMS / name).read_text()))


def test_the_engagement_has_the_agreed_user_tasks():
    assert {ts.bpmn_id for ts in user_task_specs("engagement")} == {
        "pitch_prepare",
        "pitch_outcome",
        "pitch_lost_reason",
        "scope_estimate",
        "scope_effort_review",
        "scope_signoff",
        "brief_write",
        "brief_approve",
        "timeline_plan",
        "resourcing_plan",
        "supplier_booking",
        "production",
        "change_order",
        "approve_change_order",
        "chase_client",
        "client_checkin",
        "qc_check",
        "client_feedback",
        "process_review",
        "growth_review",
    }
    assert {ts.bpmn_id for ts in user_task_specs("fast_track")} == {
        "brief_write",
        "production",
        "qc_check",
        "client_feedback",
    }


@pytest.mark.parametrize(
    ("form", "data"),
    [
        ("scope_signoff", {"signoff_decision": "changes_requested"}),
        ("scope_signoff", {"signoff_decision": "rejected", "signoff_comment": ""}),
        ("brief_approve", {"brief_decision": "changes_requested"}),
        ("qc_check", {"qc_decision": "fail"}),
        ("client_feedback", {"feedback_decision": "changes_requested"}),
        ("pitch_lost_reason", {"lost_reason": "other"}),
        ("client_checkin", {"client_mood": "happy"}),
        ("client_checkin", {"checkin_notes": "fine", "client_mood": "ecstatic"}),
        ("change_order", {"change_order_decision": "approved", "additional_budget": 0}),
        (
            "scope_estimate",
            {
                "deliverables": [{"name": "x"}],
                "hours_by_role": {"designer": 1},
                "budget": 0,
                "start_date": "2025-01-01",
                "end_date": "2025-01-02",
            },
        ),
        (
            "scope_estimate",
            {
                "deliverables": [{"name": "x"}],
                "hours_by_role": {"designer": 1},
                "budget": 10,
                "start_date": "1 Jan",
                "end_date": "2025-01-02",
            },
        ),
        ("production", {"cost_to_date": -1, "progress_note": "x"}),
        ("pitch_outcome", {"pitch_decision": "maybe"}),
    ],
)
def test_forms_reject_incomplete_decisions(form, data):
    assert list(form_validator(f"{form}.schema.json").iter_errors(data))


@pytest.mark.parametrize(
    ("form", "data"),
    [
        ("scope_signoff", {"signoff_decision": "approved"}),
        ("qc_check", {"qc_decision": "pass"}),
        (
            "change_order",
            {"change_order_decision": "rejected", "additional_budget": 0, "change_order_comment": "No."},
        ),
        ("growth_review", {"upsell_opportunities": []}),
    ],
)
def test_forms_accept_minimal_answers(form, data):
    assert not list(form_validator(f"{form}.schema.json").iter_errors(data))


def test_options_default_when_the_engagement_starts_without_any():
    wf = start(STORIES["happy_path"])
    data = ready_user_tasks(wf)[0].data
    assert data["pm_joins_scoping"] is False
    assert data["budget_alert_ratio"] == 0.9


# ---------------------------------------------------------------- the stories


def test_the_happy_path_from_pitch_to_delivery():
    wf = replay("happy_path")
    assert wf.data["upsell_opportunities"][0]["title"] == "Summer blend launch"
    assert wf.data["lessons"]


def test_a_lost_pitch_records_the_reason_and_ends():
    replay("pitch_lost")


def test_an_am_sends_the_scope_back_twice_and_the_client_then_approves():
    replay("scope_changes_requested_twice_then_approved")


def test_the_client_declines_the_scope_and_the_engagement_ends():
    replay("scope_declined")


def test_the_pm_reviews_the_effort_when_the_engagement_asks_for_it():
    replay("pm_reviews_scope_effort")


def test_the_pm_does_not_see_the_scope_without_the_option():
    wf = start(STORIES["happy_path"])
    for step in STORIES["happy_path"].steps[:3]:
        task = next(t for t in ready_user_tasks(wf) if t.task_spec.bpmn_id == step.task)
        task.set_data(**copy.deepcopy(step.data))
        task.run()
        wf.do_engine_steps()
    assert [t.task_spec.bpmn_id for t in ready_user_tasks(wf)] == ["scope_signoff"]


def test_the_am_sends_the_brief_back_once():
    replay("brief_sent_back_once")


def test_qc_fails_once_and_production_goes_round_again():
    replay("qc_fails_then_passes")


def test_the_client_asks_for_a_change_and_production_goes_round_again():
    replay("client_requests_a_change")


def test_cost_over_the_alert_threshold_raises_a_change_order_the_client_approves():
    replay("over_budget_change_order_approved")


def test_the_client_declines_the_change_order_and_the_budget_stays():
    replay("over_budget_change_order_declined")


def test_a_higher_alert_ratio_lets_production_spend_closer_to_the_budget():
    replay("custom_alert_ratio_keeps_cost_within_budget")


def test_suppliers_are_booked_when_needed():
    wf = replay("suppliers_needed")
    assert wf.data["suppliers"][0]["name"] == "Brightframe Films"


def test_no_supplier_booking_when_none_are_needed():
    wf = replay("suppliers_not_needed")
    assert "suppliers" not in wf.data


def test_a_fast_track_job_goes_from_brief_to_delivery_with_one_qc_fail():
    replay("fast_track")


def test_a_fast_track_client_asks_for_a_change():
    replay("fast_track_client_change_request")


@pytest.mark.parametrize("name", sorted(STORIES))
def test_every_story_reaches_its_end_event(name):
    replay(name)


def test_both_reviews_are_open_at_once_after_the_client_accepts():
    story = STORIES["happy_path"]
    wf = start(story)
    for step in story.steps[:-2]:
        task = next(t for t in ready_user_tasks(wf) if t.task_spec.bpmn_id == step.task)
        task.set_data(**copy.deepcopy(step.data))
        task.run()
        wf.do_engine_steps()
    ready = {t.task_spec.bpmn_id: t.task_spec.lane for t in ready_user_tasks(wf)}
    assert ready == {"process_review": "Project Management", "growth_review": "Account Management"}


def test_twenty_qc_rounds_complete():
    story = qc_rounds_story(20)
    wf = play(story)
    assert end_events_reached(wf) == ["end_delivered"]
    assert sum(1 for s in story.steps if s.task == "qc_check") == 21


def _qc_rounds_reach_the_end(n: int) -> dict[str, Any]:
    wf = play(qc_rounds_story(n))
    return {"end": end_events_reached(wf), "depth": max(t.depth for t in wf.get_tasks(max_depth=10**6))}


def test_a_hundred_qc_rounds_still_complete_under_the_default_iterator_depth():
    # SpiffWorkflow's task iterator stops at depth 1000 by default (do_engine_steps, is_completed):
    # the QC loop is 6 tasks deep per round (production carries the weekly check-in timer), so
    # SpiffWorkflow alone gets through 100 rounds; Baton compacts the tree and has no such limit
    # (tests/test_long_engagements.py runs 1,000).
    result = _qc_rounds_reach_the_end(100)
    assert result["end"] == ["end_delivered"]
    assert result["depth"] < 1000
