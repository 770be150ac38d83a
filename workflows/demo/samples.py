"""Sample engagements: walks through the standard definitions with form-valid data.

The demo seeds its engagements from these stories; the tests and the benchmarks replay them.

A `Story` is one walk through a definition: the start data and, in order, every user task a person
completes with the form data they submit. Each step's task is a READY user task at that moment and
its data validates against the task's form (definitions/forms/<task>.schema.json). Builders below
return fresh, form-valid data; override fields with keyword arguments.

STORIES is module-level and shared: deep-copy a step's data before handing it to anything that
may mutate it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENGAGEMENT = "engagement"
FAST_TRACK = "fast_track"


@dataclass
class Step:
    task: str  # bpmn id of the user task completed in this step
    data: dict[str, Any]  # what the person submits in the task's form


@dataclass
class Story:
    name: str
    definition: str  # process id: "engagement" or "fast_track"
    options: dict[str, Any]
    start_data: dict[str, Any]  # {"options": {...}, "client": ..., "engagement_name": ...}
    steps: list[Step]
    end_event: str  # bpmn id of the end event the story reaches
    # Values the workflow data must hold once the story is over (checked by the in-memory tests).
    expected_data: dict[str, Any] = field(default_factory=dict)


def start_data(
    options: dict[str, Any] | None = None,
    client: str = "Northwind Coffee",
    engagement_name: str = "Spring launch campaign",
) -> dict[str, Any]:
    return {"options": dict(options or {}), "client": client, "engagement_name": engagement_name}


# ---------------------------------------------------------------- form data builders (one per user task)


def pitch_prepare(**kw: Any) -> dict[str, Any]:
    return {
        "pitch_summary": "Seasonal launch built around a coffee-tasting tour, social first.",
        "pitch_date": "2025-03-04",
        "pitch_team": ["Ana (AM)", "Ben (creative director)"],
        "estimated_value": 25000,
        **kw,
    }


def pitch_outcome(decision: str = "won", **kw: Any) -> dict[str, Any]:
    return {"pitch_decision": decision, **kw}


def pitch_lost_reason(
    reason: str = "competitor", note: str = "They went with a larger network agency.", **kw: Any
) -> dict[str, Any]:
    return {"lost_reason": reason, "lost_note": note, **kw}


def scope_estimate(budget: float = 20000, **kw: Any) -> dict[str, Any]:
    return {
        "deliverables": [
            {"name": "Launch video", "description": "30s and 15s cuts for social"},
            {"name": "Landing page", "description": "Single page with store finder"},
            {"name": "Social kit"},
        ],
        "hours_by_role": {
            "account_manager": 20,
            "project_manager": 30,
            "designer": 60,
            "developer": 40,
            "copywriter": 16,
        },
        "budget": budget,
        "start_date": "2025-04-01",
        "end_date": "2025-05-30",
        "assumptions": "Two rounds of changes per deliverable; client supplies product photography.",
        **kw,
    }


def scope_effort_review(ok: bool = True, note: str | None = None, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"effort_ok": ok}
    if note is not None or not ok:
        data["effort_note"] = note or "Developer hours look low for the store finder."
    return {**data, **kw}


def scope_signoff(decision: str = "approved", comment: str | None = None, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"signoff_decision": decision, "client_contact": "Dana Ruiz, marketing lead"}
    if comment is not None or decision != "approved":
        data["signoff_comment"] = comment or f"Client said: {decision.replace('_', ' ')}."
    return {**data, **kw}


def brief_write(**kw: Any) -> dict[str, Any]:
    return {
        "objectives": "Drive trial of the spring blend: 5,000 tasting sign-ups in six weeks.",
        "audience": "Urban coffee drinkers aged 25-40 who already buy specialty coffee.",
        "key_messages": ["Small-lot spring blend", "Taste it free this weekend"],
        "constraints": "Brand palette only; no price claims.",
        **kw,
    }


def brief_approve(decision: str = "approved", comment: str | None = None, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"brief_decision": decision}
    if comment is not None or decision != "approved":
        data["brief_comment"] = comment or "Objectives need a measurable target per channel."
    return {**data, **kw}


def timeline_plan(**kw: Any) -> dict[str, Any]:
    return {
        "milestones": [
            {"name": "Concepts", "due_date": "2025-04-11"},
            {"name": "First cut", "due_date": "2025-05-02"},
            {"name": "Launch", "due_date": "2025-05-30"},
        ],
        **kw,
    }


def resourcing_plan(suppliers_needed: bool = False, **kw: Any) -> dict[str, Any]:
    return {
        "assignments": [
            {"role": "project_manager", "person": "Chloe", "hours": 30},
            {"role": "designer", "person": "Dev", "hours": 60},
            {"role": "developer", "person": "Eli", "hours": 40},
        ],
        "suppliers_needed": suppliers_needed,
        **kw,
    }


def supplier_booking(**kw: Any) -> dict[str, Any]:
    return {
        "suppliers": [
            {"name": "Brightframe Films", "service": "Video shoot", "cost": 4500},
            {"name": "Soundbox", "service": "Music licence", "cost": 600},
        ],
        **kw,
    }


def production(
    cost_to_date: float = 12000, note: str = "First cut delivered to QC.", **kw: Any
) -> dict[str, Any]:
    return {"cost_to_date": cost_to_date, "progress_note": note, **kw}


def change_order(decision: str = "approved", additional_budget: float = 5000, **kw: Any) -> dict[str, Any]:
    return {
        "change_order_decision": decision,
        "additional_budget": additional_budget if decision == "approved" else 0,
        "change_order_comment": (
            "Extra cut-downs for retail screens."
            if decision == "approved"
            else "No budget left this quarter."
        ),
        **kw,
    }


def qc_check(decision: str = "pass", notes: str | None = None, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"qc_decision": decision}
    if notes is not None or decision == "fail":
        data["qc_notes"] = notes or "Logo lock-up is off-brand in the end card."
    return {**data, **kw}


def client_feedback(decision: str = "approved", comment: str | None = None, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"feedback_decision": decision}
    if comment is not None or decision != "approved":
        data["feedback_comment"] = comment or "Please swap the music for something calmer."
    return {**data, **kw}


def process_review(**kw: Any) -> dict[str, Any]:
    return {
        "what_went_well": "Brief was signed off quickly; QC caught issues before the client saw them.",
        "what_to_change": "Book the video supplier earlier.",
        "lessons": ["Get brand guidelines before concepts", "Share cost to date weekly"],
        **kw,
    }


def growth_review(**kw: Any) -> dict[str, Any]:
    return {
        "upsell_opportunities": [
            {"title": "Summer blend launch", "estimated_value": 30000, "status": "open"},
            {"title": "Always-on social", "estimated_value": 4000, "status": "won"},
        ],
        "client_satisfaction": 4,
        **kw,
    }


# ---------------------------------------------------------------- step sequences


def _s(task: str, data: dict[str, Any]) -> Step:
    return Step(task, data)


def _pitch_won() -> list[Step]:
    return [_s("pitch_prepare", pitch_prepare()), _s("pitch_outcome", pitch_outcome("won"))]


def _scope_approved(budget: float = 20000) -> list[Step]:
    return [_s("scope_estimate", scope_estimate(budget)), _s("scope_signoff", scope_signoff("approved"))]


def up_to_production(budget: float = 20000) -> list[Step]:
    """The steps of a won engagement up to (not including) its first production step."""
    return [*_pitch_won(), *_scope_approved(budget), *_brief_and_plan()]


def _brief_and_plan(suppliers_needed: bool = False) -> list[Step]:
    steps = [
        _s("brief_write", brief_write()),
        _s("brief_approve", brief_approve("approved")),
        _s("timeline_plan", timeline_plan()),
        _s("resourcing_plan", resourcing_plan(suppliers_needed)),
    ]
    if suppliers_needed:
        steps.append(_s("supplier_booking", supplier_booking()))
    return steps


def _qc_rounds(failures: int, cost_to_date: float = 12000) -> list[Step]:
    steps: list[Step] = []
    for i in range(failures):
        steps += [
            _s("production", production(cost_to_date, f"Round {i + 1} ready for QC.")),
            _s("qc_check", qc_check("fail", f"Round {i + 1}: fix the end card.")),
        ]
    steps += [_s("production", production(cost_to_date)), _s("qc_check", qc_check("pass"))]
    return steps


def _accepted_and_reviews() -> list[Step]:
    return [
        _s("client_feedback", client_feedback("approved")),
        _s("process_review", process_review()),
        _s("growth_review", growth_review()),
    ]


def _story(
    name: str,
    steps: list[Step],
    end_event: str = "end_delivered",
    options: dict[str, Any] | None = None,
    definition: str = ENGAGEMENT,
    expected_data: dict[str, Any] | None = None,
    **start: Any,
) -> Story:
    opts = dict(options or {})
    return Story(
        name=name,
        definition=definition,
        options=opts,
        start_data=start_data(opts, **start),
        steps=steps,
        end_event=end_event,
        expected_data=dict(expected_data or {}),
    )


def happy_path_steps(budget: float = 20000) -> list[Step]:
    return [
        *_pitch_won(),
        *_scope_approved(budget),
        *_brief_and_plan(),
        *_qc_rounds(0),
        *_accepted_and_reviews(),
    ]


def qc_rounds_story(n: int) -> Story:
    """The happy path with `n` QC failures before the pass (for benchmarks)."""
    steps = [*_pitch_won(), *_scope_approved(), *_brief_and_plan(), *_qc_rounds(n), *_accepted_and_reviews()]
    return _story(
        f"qc_rounds_{n}",
        steps,
        engagement_name=f"QC marathon ({n} rounds)",
        expected_data={"qc_decision": "pass"},
    )


def _build_stories() -> dict[str, Story]:
    stories = [
        _story(
            "happy_path",
            happy_path_steps(),
            expected_data={"budget": 20000, "pm_joins_scoping": False, "budget_alert_ratio": 0.9},
        ),
        _story(
            "pitch_lost",
            [
                _s("pitch_prepare", pitch_prepare()),
                _s("pitch_outcome", pitch_outcome("lost")),
                _s("pitch_lost_reason", pitch_lost_reason("price", "Our estimate was 30% above theirs.")),
            ],
            end_event="end_lost",
            client="Contoso Bikes",
            engagement_name="Brand refresh pitch",
            expected_data={"lost_reason": "price"},
        ),
        _story(
            "scope_changes_requested_twice_then_approved",
            [
                *_pitch_won(),
                _s("scope_estimate", scope_estimate(30000)),
                _s(
                    "scope_signoff",
                    scope_signoff("changes_requested", "Too expensive; drop the landing page."),
                ),
                _s("scope_estimate", scope_estimate(24000)),
                _s("scope_signoff", scope_signoff("changes_requested", "Keep the landing page, cut video.")),
                _s("scope_estimate", scope_estimate(21000)),
                _s("scope_signoff", scope_signoff("approved")),
                *_brief_and_plan(),
                *_qc_rounds(0),
                *_accepted_and_reviews(),
            ],
            expected_data={"budget": 21000, "signoff_decision": "approved"},
        ),
        _story(
            "scope_declined",
            [
                *_pitch_won(),
                _s("scope_estimate", scope_estimate()),
                _s("scope_signoff", scope_signoff("rejected", "Budget was cut for this year.")),
            ],
            end_event="end_declined",
            expected_data={"signoff_decision": "rejected"},
        ),
        _story(
            "pm_reviews_scope_effort",
            [
                *_pitch_won(),
                _s("scope_estimate", scope_estimate()),
                _s("scope_effort_review", scope_effort_review(False, "Add 10 developer hours.")),
                _s("scope_signoff", scope_signoff("changes_requested", "Can the dates move a week?")),
                _s("scope_estimate", scope_estimate(21500)),
                _s("scope_effort_review", scope_effort_review(True)),
                _s("scope_signoff", scope_signoff("approved")),
                *_brief_and_plan(),
                *_qc_rounds(0),
                *_accepted_and_reviews(),
            ],
            options={"pm_joins_scoping": True},
            expected_data={"pm_joins_scoping": True, "effort_ok": True},
        ),
        _story(
            "brief_sent_back_once",
            [
                *_pitch_won(),
                *_scope_approved(),
                _s("brief_write", brief_write()),
                _s("brief_approve", brief_approve("changes_requested")),
                _s("brief_write", brief_write(objectives="5,000 sign-ups: 3,000 social, 2,000 in store.")),
                _s("brief_approve", brief_approve("approved")),
                _s("timeline_plan", timeline_plan()),
                _s("resourcing_plan", resourcing_plan(False)),
                *_qc_rounds(0),
                *_accepted_and_reviews(),
            ],
            expected_data={"brief_decision": "approved"},
        ),
        _story(
            "qc_fails_then_passes",
            [*_pitch_won(), *_scope_approved(), *_brief_and_plan(), *_qc_rounds(1), *_accepted_and_reviews()],
            expected_data={"qc_decision": "pass"},
        ),
        _story(
            "client_requests_a_change",
            [
                *_pitch_won(),
                *_scope_approved(),
                *_brief_and_plan(),
                *_qc_rounds(0),
                _s("client_feedback", client_feedback("changes_requested")),
                _s("production", production(14000, "Music swapped.")),
                _s("qc_check", qc_check("pass")),
                *_accepted_and_reviews(),
            ],
            expected_data={"feedback_decision": "approved", "cost_to_date": 14000},
        ),
        _story(
            "over_budget_change_order_approved",
            [
                *_pitch_won(),
                *_scope_approved(20000),
                *_brief_and_plan(),
                _s("production", production(19000, "Extra retail cut-downs requested.")),
                _s("change_order", change_order("approved", 5000)),
                _s("qc_check", qc_check("pass")),
                *_accepted_and_reviews(),
            ],
            expected_data={"budget": 25000, "change_order_decision": "approved"},
        ),
        _story(
            "over_budget_change_order_declined",
            [
                *_pitch_won(),
                *_scope_approved(20000),
                *_brief_and_plan(),
                _s("production", production(18500)),
                _s("change_order", change_order("rejected")),
                _s("qc_check", qc_check("pass")),
                *_accepted_and_reviews(),
            ],
            options={"budget_alert_ratio": 0.9},
            expected_data={"budget": 20000, "change_order_decision": "rejected"},
        ),
        _story(
            "custom_alert_ratio_keeps_cost_within_budget",
            [
                *_pitch_won(),
                *_scope_approved(20000),
                *_brief_and_plan(),
                *_qc_rounds(0, cost_to_date=19000),
                *_accepted_and_reviews(),
            ],
            options={"budget_alert_ratio": 1.0},
            expected_data={"budget": 20000, "budget_alert_ratio": 1.0},
        ),
        _story(
            "suppliers_needed",
            [
                *_pitch_won(),
                *_scope_approved(),
                *_brief_and_plan(suppliers_needed=True),
                *_qc_rounds(0),
                *_accepted_and_reviews(),
            ],
            expected_data={"suppliers_needed": True},
        ),
        _story(
            "suppliers_not_needed",
            [
                *_pitch_won(),
                *_scope_approved(),
                *_brief_and_plan(suppliers_needed=False),
                *_qc_rounds(0),
                *_accepted_and_reviews(),
            ],
            expected_data={"suppliers_needed": False},
        ),
        _story(
            "fast_track",
            [
                _s("brief_write", brief_write()),
                _s("production", production(3000, "Banner set ready.")),
                _s("qc_check", qc_check("fail", "Wrong size for the 300x250.")),
                _s("production", production(3400, "Sizes fixed.")),
                _s("qc_check", qc_check("pass")),
                _s("client_feedback", client_feedback("approved")),
            ],
            definition=FAST_TRACK,
            options={"budget": 5000},
            engagement_name="Banner refresh",
            expected_data={"budget": 5000.0, "qc_decision": "pass"},
        ),
        _story(
            "fast_track_client_change_request",
            [
                _s("brief_write", brief_write()),
                _s("production", production(2000)),
                _s("qc_check", qc_check("pass")),
                _s("client_feedback", client_feedback("changes_requested", "Make the CTA bigger.")),
                _s("production", production(2300)),
                _s("qc_check", qc_check("pass")),
                _s("client_feedback", client_feedback("approved")),
            ],
            definition=FAST_TRACK,
            engagement_name="Menu board update",
            expected_data={"budget": 0.0, "feedback_decision": "approved"},
        ),
    ]
    return {s.name: s for s in stories}


STORIES: dict[str, Story] = _build_stories()
