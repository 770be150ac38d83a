"""Approval steps: the decision vocabulary, the rules a decision must meet, and the history.

A user task marked ``approval="true"`` in its definition is an approval step. Its form has
one ``*_decision`` field (``approved``, ``changes_requested`` or ``rejected``) and one
``*_comment`` field. The definition's gateways read the decision; Python never decides
where an outcome leads. Run as a multi-instance task, one approval becomes N-of-M: each
instance goes to the role its data names (`role_from`) and the completion condition says
how many approvals are enough (see `engine.sandbox.multi_instance_attributes`).

Rules checked here, whatever the form's schema says (ops leads edit forms):
* the decision is one of the vocabulary, and a comment is given unless it is ``approved``;
* nobody decides twice in the same round of a multi-instance approval, so "two of three"
  means two people.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from engine.definitions import element_id, properties_of
from engine.errors import FieldError, FormValidationError
from engine.fastsql import FastStatement
from engine.models import Event, HumanTask
from workflows.agency import APPROVAL_DECISIONS, APPROVAL_PROPERTY, APPROVED, is_true
from workflows.people.permissions import PermissionDenied
from workflows.people.task_permissions import OpenTask

_HUMAN = cast(Table, HumanTask.__table__)
# who already decided in a round of a multi-instance approval (its instances share a parent)
_ROUND_DECIDED_BY = FastStatement(
    select(_HUMAN.c.completed_by).where(
        _HUMAN.c.instance_id == bindparam("instance_id"),
        _HUMAN.c.multi_instance_of == bindparam("round"),
        _HUMAN.c.state == "completed",
    )
)


@dataclass(frozen=True)
class Decision:
    """One decision taken at a step: who decided what, when, and why."""

    step: str
    decision: str
    comment: str | None
    actor: str | None
    at: datetime
    lane: str | None
    stage: str | None
    on_behalf_of: str | None = None
    approval: bool = False  # taken at an approval step (else e.g. a QC check or a pitch outcome)


def decision_of(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The submitted ``*_decision`` value and non-empty ``*_comment`` (None when absent)."""
    decision = next((str(v) for k, v in data.items() if k.endswith("_decision")), None)
    comment = next(
        (str(v).strip() for k, v in data.items() if k.endswith("_comment") and str(v).strip()), None
    )
    return decision, comment


def check_approval(
    session: Session, task: OpenTask, data: Mapping[str, Any], principal: str
) -> tuple[str | None, str | None]:
    """Check a submission to a step against the approval rules; returns (decision, comment).

    Steps that are not approvals pass untouched (their decision, if any, is still recorded).

    Raises:
        FormValidationError: no decision, one outside the vocabulary, or no comment when the
            decision is not ``approved``.
        PermissionDenied: `principal` already decided in this round of the approval.
    """
    decision, comment = decision_of(data)
    if not is_true(task.properties, APPROVAL_PROPERTY):
        return decision, comment
    form = task.properties.get("formJsonSchemaFilename", task.bpmn_id)
    field = next((k for k in data if k.endswith("_decision")), "decision")
    if decision not in APPROVAL_DECISIONS:
        raise FormValidationError(
            form, [FieldError(field, f"choose one of: {', '.join(APPROVAL_DECISIONS)}")]
        )
    if decision != APPROVED and comment is None:
        comment_field = field.removesuffix("_decision") + "_comment"
        raise FormValidationError(
            form,
            [FieldError(comment_field, f"say why: a comment is required when the decision is {decision}")],
        )
    if task.multi_instance_of is not None:
        others = _ROUND_DECIDED_BY.fetchall(
            session.connection(), {"instance_id": task.instance_id, "round": task.multi_instance_of}
        )
        if any(by == principal for (by,) in others):
            raise PermissionDenied(
                f"{principal} already decided on {task.bpmn_id} in this round; another approver must decide"
            )
    return decision, comment


def decisions_from(history: Iterable[Event], approval_steps: Collection[str]) -> list[Decision]:
    """The decisions in an instance's event history, oldest first.

    Args:
        history: the instance's events in order.
        approval_steps: BPMN ids of the definition's approval steps.
    """
    return [
        Decision(
            step=event.bpmn_id or "",
            decision=str(event.decision),
            comment=(event.detail or {}).get("comment"),
            actor=event.actor,
            at=event.at,
            lane=event.lane,
            stage=event.stage,
            on_behalf_of=(event.detail or {}).get("on_behalf_of"),
            approval=(event.bpmn_id or "") in approval_steps,
        )
        for event in history
        if event.kind == "task_completed" and event.decision is not None
    ]


def approval_steps(spec_tasks: Iterable[Any]) -> set[str]:
    """BPMN ids of the approval steps among a definition's task specs."""
    return {
        element_id(ts)
        for ts in spec_tasks
        if getattr(ts, "manual", False) and is_true(properties_of(ts), APPROVAL_PROPERTY)
    }
