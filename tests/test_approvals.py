"""Approval steps: the decision vocabulary, N-of-M sign-offs, and the approval history.

The engagement definition routes a change order above the internal approval threshold
(5,000 by default) to leadership and the AM, all of whom must approve; an engagement may
name other approvers and a quorum in its options ("two of three"). The agency is the one
the `deployed` fixture seeds: ana (AM), pete (PM), lee (leadership), olga (ops lead).
"""

from __future__ import annotations

from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine.errors import DefinitionError, FormValidationError
from engine.models import HumanTask
from tests.conftest import open_engagement
from tests.test_definition_registry import FORMS, variant, with_form
from workflows.agency import AM_LANE, PM_LANE
from workflows.demo import samples as stories
from workflows.engagements.lifecycle import view_engagement
from workflows.engagements.tasks import complete_task
from workflows.people.permissions import PermissionDenied
from workflows.people.users import add_user
from workflows.services import Services
from workflows.views.lists import my_tasks, pool_tasks

TEAM = {AM_LANE: "ana", PM_LANE: "pete"}


def over_budget(services: Services, *, additional: float = 8000, **options: Any) -> int:
    """An engagement whose client agreed a change order of `additional`; returns its id."""
    engagement_id = open_engagement(services, **options)
    steps = [
        *stories.up_to_production(20000),
        stories.Step("production", stories.production(19000)),
        stories.Step("change_order", stories.change_order("approved", additional)),
    ]
    for step in steps:
        with services.db.unit_of_work() as session:
            open_tasks = {
                t.bpmn_id: t
                for t in services.runtime.ready_tasks(session, _instance(services, engagement_id))
            }
            task = open_tasks[step.task]
            assert task.lane is not None
            complete_task(session, services, engagement_id, task.task_id, step.data, actor=TEAM[task.lane])
    return engagement_id


def _instance(services: Services, engagement_id: int) -> int:
    with services.db.unit_of_work(write=False) as session:
        return view_engagement(session, services, engagement_id).instance.id


def approvals_open(services: Services, engagement_id: int) -> dict[str, HumanTask]:
    """The open change-order approvals by the role each one went to."""
    with services.db.unit_of_work(write=False) as session:
        view = view_engagement(session, services, engagement_id)
        return {t.candidate_group or "": t for t in view.open_tasks if t.bpmn_id == "approve_change_order"}


def decide(
    services: Services, engagement_id: int, task: HumanTask, who: str, decision: str, comment: str = ""
) -> None:
    data = {"approval_decision": decision, **({"approval_comment": comment} if comment else {})}
    with services.db.unit_of_work() as session:
        complete_task(session, services, engagement_id, task.task_id, data, actor=who)


def open_steps(services: Services, engagement_id: int) -> list[str]:
    with services.db.unit_of_work(write=False) as session:
        return sorted(t.bpmn_id for t in view_engagement(session, services, engagement_id).open_tasks)


def budget_of(services: Services, engagement_id: int) -> float:
    with services.db.unit_of_work(write=False) as session:
        instance_id = view_engagement(session, services, engagement_id).instance.id
        workflow = services.store.load(session, instance_id)
    # the budget as the open step sees it
    (task,) = [
        t
        for t in workflow.get_tasks(state=TaskState.READY, manual=True)
        if t.task_spec.bpmn_id != "approve_change_order"
    ]
    return float(task.data["budget"])


def test_a_large_change_order_needs_leadership_and_the_am(deployed: Services) -> None:
    engagement_id = over_budget(deployed)
    pending = approvals_open(deployed, engagement_id)
    # each instance goes to the role its data names: leadership's to the pool, the AM's to ana
    assert set(pending) == {"leadership", "account_manager"}
    assert {t.run for t in pending.values()} == {None}  # instances of one run of the activity
    assert pending["account_manager"].assignee == "ana"
    assert pending["leadership"].assignee is None
    decide(deployed, engagement_id, pending["leadership"], "lee", "approved")
    assert "qc_check" not in open_steps(deployed, engagement_id)  # all-of: the AM must approve too
    decide(deployed, engagement_id, pending["account_manager"], "ana", "approved")
    assert open_steps(deployed, engagement_id) == ["qc_check"]
    assert budget_of(deployed, engagement_id) == 28000
    with deployed.db.unit_of_work(write=False) as session:
        history = view_engagement(session, deployed, engagement_id).approvals
    assert [(d.step, d.decision, d.actor) for d in history][-2:] == [
        ("approve_change_order", "approved", "lee"),
        ("approve_change_order", "approved", "ana"),
    ]


def test_leadership_finds_its_approval_in_its_pool_and_the_am_in_her_own_inbox(deployed: Services) -> None:
    engagement_id = over_budget(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        lee_pool = [(t.bpmn_id, t.candidate_group) for t, _ in pool_tasks(session, "lee")]
        ana_mine = [t.bpmn_id for t, _ in my_tasks(session, deployed, "ana")]
        pete_pool = [t.bpmn_id for t, _ in pool_tasks(session, "pete")]
    assert lee_pool == [("approve_change_order", "leadership")]
    assert ana_mine == ["approve_change_order"]
    assert "approve_change_order" not in pete_pool  # not a PM's decision
    assert engagement_id


def test_a_small_change_order_needs_no_internal_approval(deployed: Services) -> None:
    engagement_id = over_budget(deployed, additional=3000)
    assert open_steps(deployed, engagement_id) == ["qc_check"]
    assert budget_of(deployed, engagement_id) == 23000


def test_two_of_three_approvers_are_enough_and_the_third_is_withdrawn(deployed: Services) -> None:
    engagement_id = over_budget(
        deployed,
        change_order_approvers=["leadership", "account_manager", "project_manager"],
        change_order_quorum=2,
    )
    pending = approvals_open(deployed, engagement_id)
    assert set(pending) == {"leadership", "account_manager", "project_manager"}
    assert pending["project_manager"].assignee == "pete"
    decide(deployed, engagement_id, pending["project_manager"], "pete", "approved")
    decide(
        deployed, engagement_id, pending["leadership"], "lee", "changes_requested", "Phase the extra spend."
    )
    assert "qc_check" not in open_steps(deployed, engagement_id)  # one approval of two so far
    decide(deployed, engagement_id, pending["account_manager"], "ana", "approved")
    assert open_steps(deployed, engagement_id) == ["qc_check"]
    assert budget_of(deployed, engagement_id) == 28000


def test_two_of_three_stops_as_soon_as_two_approve(deployed: Services) -> None:
    engagement_id = over_budget(
        deployed,
        change_order_approvers=["leadership", "account_manager", "project_manager"],
        change_order_quorum=2,
    )
    pending = approvals_open(deployed, engagement_id)
    decide(deployed, engagement_id, pending["leadership"], "lee", "approved")
    decide(deployed, engagement_id, pending["project_manager"], "pete", "approved")
    assert open_steps(deployed, engagement_id) == ["qc_check"]
    with deployed.db.unit_of_work(write=False) as session:
        withdrawn = session.scalar(
            select(HumanTask).where(HumanTask.task_id == pending["account_manager"].task_id)
        )
    assert withdrawn is not None and withdrawn.state == "cancelled"


def test_a_rejection_sends_the_change_order_back_to_the_am(deployed: Services) -> None:
    engagement_id = over_budget(deployed)
    pending = approvals_open(deployed, engagement_id)
    decide(deployed, engagement_id, pending["leadership"], "lee", "rejected", "Not this quarter.")
    # all-of cannot be reached any more: the round ends at once and the AM renegotiates
    assert open_steps(deployed, engagement_id) == ["change_order"]
    assert budget_of(deployed, engagement_id) == 20000
    with deployed.db.unit_of_work(write=False) as session:
        last = view_engagement(session, deployed, engagement_id).approvals[-1]
    assert (last.step, last.decision, last.comment, last.actor) == (
        "approve_change_order",
        "rejected",
        "Not this quarter.",
        "lee",
    )


def test_a_decision_other_than_approved_needs_a_comment(deployed: Services) -> None:
    engagement_id = over_budget(deployed)
    pending = approvals_open(deployed, engagement_id)
    with pytest.raises(FormValidationError) as refused:
        decide(deployed, engagement_id, pending["leadership"], "lee", "rejected")
    assert refused.value.errors[0].path == "approval_comment"
    assert set(approvals_open(deployed, engagement_id)) == {"leadership", "account_manager"}  # nothing lost


def test_nobody_approves_twice_in_the_same_round(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        add_user(session, deployed, "dana", name="Dana Boss", roles=["leadership", "account_manager"])
    engagement_id = over_budget(
        deployed,
        change_order_approvers=["leadership", "account_manager", "project_manager"],
        change_order_quorum=2,
    )
    pending = approvals_open(deployed, engagement_id)
    decide(deployed, engagement_id, pending["leadership"], "dana", "approved")
    with pytest.raises(PermissionDenied, match="already decided"):
        decide(deployed, engagement_id, pending["account_manager"], "dana", "approved")


def test_only_the_named_role_may_decide_an_instance(deployed: Services) -> None:
    engagement_id = over_budget(deployed)
    pending = approvals_open(deployed, engagement_id)
    with pytest.raises(PermissionDenied):
        decide(deployed, engagement_id, pending["leadership"], "pete", "approved")  # a PM is not leadership


def test_the_client_rejecting_the_scope_ends_the_engagement_with_the_reason_on_record(
    deployed: Services,
) -> None:
    engagement_id = open_engagement(deployed)
    steps = [
        stories.Step("pitch_prepare", stories.pitch_prepare()),
        stories.Step("pitch_outcome", stories.pitch_outcome("won")),
        stories.Step("scope_estimate", stories.scope_estimate(20000)),
    ]
    for step in steps:
        with deployed.db.unit_of_work() as session:
            complete_task(session, deployed, engagement_id, step.task, step.data, actor="ana")
    with deployed.db.unit_of_work() as session, pytest.raises(FormValidationError):
        complete_task(
            session, deployed, engagement_id, "scope_signoff", {"signoff_decision": "declined"}, actor="ana"
        )
    with deployed.db.unit_of_work() as session:
        complete_task(
            session,
            deployed,
            engagement_id,
            "scope_signoff",
            {"signoff_decision": "rejected", "signoff_comment": "Budget was cut."},
            actor="ana",
        )
    with deployed.db.unit_of_work(write=False) as session:
        view = view_engagement(session, deployed, engagement_id)
    assert view.instance.status == "completed" and view.instance.end_event == "end_declined"
    assert [(d.step, d.decision, d.comment) for d in view.approvals] == [
        ("scope_signoff", "rejected", "Budget was cut.")
    ]


APPROVAL = '<spiffworkflow:property name="approval" value="true" />'
FEEDBACK_FORM = '<spiffworkflow:property name="formJsonSchemaFilename" value="client_feedback.schema.json" />'
OLD_VOCABULARY = FORMS["client_feedback.schema.json"].replace('"approved"', '"accepted"')


@pytest.mark.parametrize(
    ("change", "forms", "message"),
    [
        (
            (FEEDBACK_FORM, FEEDBACK_FORM.replace("client_feedback", "production")),
            FORMS,
            "needs a '*_decision' field",
        ),
        ((APPROVAL, APPROVAL.replace("true", "yes")), FORMS, "approval must be 'true' or 'false'"),
        (
            (APPROVAL, APPROVAL),
            with_form("client_feedback.schema.json", OLD_VOCABULARY),
            "must offer 'approved'",
        ),
    ],
)
def test_an_approval_step_without_the_vocabulary_is_refused_at_deploy(
    deployed: Services, change: tuple[str, str], forms: dict[str, str], message: str
) -> None:
    with deployed.db.unit_of_work() as session, pytest.raises(DefinitionError) as refused:
        deployed.definitions.deploy(session, variant(change), forms)
    assert any(
        message in issue.message and issue.element_id == "client_feedback" for issue in refused.value.issues
    )
