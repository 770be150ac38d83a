"""Who may act on an open task (checked by the task use cases of `workflows.engagements.tasks`).

* **complete**: when the task is claimed, its claimer or their cover (or a member of its role
  taking it over, explicitly); otherwise its
  assignee, their cover, or any member of the role of the task's lane. So a PM cannot
  complete an AM task, but any AM can pick up an AM task of the pool.
* **claim**: the assignee, their cover, or a member of the lane's role.
* **unclaim**: the claimer, their cover, or an ops lead / admin (releasing someone's claim).
* **reassign**: ops leads and admins only; the new assignee must be active and hold the
  lane's role.
* **act on behalf** of someone (complete as them): ops leads and admins, with a reason;
  the person acted for must themselves be allowed to complete the task. The event keeps
  the real actor and records ``on_behalf_of`` and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from workflows.people.covers import covered_by, today
from workflows.people.permissions import OPERATORS, PermissionDenied, acting_user, require_operator
from workflows.people.users import Known, Person, find_person, get_user
from workflows.services import Services


@dataclass(frozen=True)
class OpenTask:
    """An open task as the access rules see it."""

    instance_id: int
    task_id: str
    bpmn_id: str
    lane: str | None
    role: str | None  # the role working the task (its own, else its lane's; None: unknown)
    assignee: str | None
    claimed_by: str | None
    properties: Mapping[str, str] = field(default_factory=dict)  # the step's BPMN properties
    multi_instance_of: str | None = None  # its multi-instance activity, for one of its instances

    def __str__(self) -> str:
        return f"{self.bpmn_id} ({self.lane or 'no lane'})"


def open_task(session: Session, services: Services, definition_id: int, task: Any) -> OpenTask:
    """The access rules' view of a `human_task` row (or a lookup row with the same fields)."""
    return OpenTask(
        instance_id=task.instance_id,
        task_id=task.task_id,
        bpmn_id=task.bpmn_id,
        lane=task.lane,
        role=getattr(task, "candidate_group", None)
        or services.lanes.role_of(session, definition_id, task.lane),
        assignee=task.assignee,
        claimed_by=task.claimed_by,
        properties=getattr(task, "properties", None) or {},
        multi_instance_of=getattr(task, "multi_instance_of", None),
    )


# -- who may act on a task -----------------------------------------------------------------


def _standing(
    session: Session, services: Services, user: Person, task: OpenTask, *, mind_claim: bool
) -> dict[str, Any] | None:
    """How `user` may work `task` (facts for the event), or None when they may not."""
    holder = task.claimed_by if mind_claim else None
    if holder is not None:
        if holder == user.username:
            return {}
        return (
            {"covering_for": holder}
            if holder in covered_by(session, user.username, today(services))
            else None
        )
    if task.assignee == user.username or (task.role is not None and user.has_role(task.role)):
        return {}
    if task.assignee is not None and task.assignee in covered_by(session, user.username, today(services)):
        return {"covering_for": task.assignee}
    return None


def _refusal(user: Person, task: OpenTask, what: str) -> PermissionDenied:
    if task.claimed_by is not None and what == "complete":
        return PermissionDenied(
            f"{user.username} may not complete {task}: it is claimed by {task.claimed_by}, "
            "and only they or their cover may complete it (or a member of its role taking it over)"
        )
    owner = f"assigned to {task.assignee}" if task.assignee else "not assigned to anyone"
    role = f"members of the role {task.role}" if task.role else "nobody else (the lane has no known role)"
    return PermissionDenied(
        f"{user.username} may not {what} {task}: it is {owner}, and besides its assignee and their "
        f"cover only {role} may"
    )


def authorize_completion(
    session: Session,
    services: Services,
    task: OpenTask,
    actor: str | None,
    *,
    on_behalf_of: str | None = None,
    reason: str | None = None,
    known: Known | None = None,
    take_over: bool = False,
) -> dict[str, Any]:
    """Check that `actor` may complete `task` (themselves, or for someone else).

    `known` holds people the caller already looked up (saves a query each). A task claimed by
    someone else is completed only by its claimer (or their cover), or by a member of its role
    who says so explicitly (`take_over`): nobody's claimed work is finished over their head by
    accident. The event then names whom it was taken over from (``taken_over_from``).

    Returns:
        Facts for the completion event: ``covering_for``, ``on_behalf_of`` and ``reason``.

    Raises:
        PermissionDenied: see the module's rules.
        NotFoundError: the person acted for does not exist.
        ValueError: acting on behalf of someone without a reason.
    """
    doer = acting_user(session, actor, known)
    facts: dict[str, Any] = {}
    principal = doer
    if on_behalf_of is not None and on_behalf_of != doer.username:
        require_operator(doer, f"act on behalf of {on_behalf_of}")
        if not (reason or "").strip():
            raise ValueError(f"say why you act on behalf of {on_behalf_of}")
        found = find_person(session, on_behalf_of, known)
        if found is None:
            raise NotFoundError(f"no user '{on_behalf_of}'")
        principal = found
        facts = {"on_behalf_of": principal.username, "reason": (reason or "").strip()}
    standing = _standing(session, services, principal, task, mind_claim=True)
    if (
        standing is None
        and take_over
        and task.claimed_by is not None
        and _standing(session, services, principal, task, mind_claim=False) is not None
    ):
        standing = {"taken_over_from": task.claimed_by}
    if standing is None:
        raise _refusal(principal, task, "complete")
    return {**standing, **facts}


def authorize_claim(
    session: Session, services: Services, task: OpenTask, actor: str | None
) -> dict[str, Any]:
    """Check that `actor` may claim `task`; returns facts for the event (``covering_for``)."""
    return authorize_work(session, services, task, actor, what="claim")


def authorize_work(
    session: Session, services: Services, task: OpenTask, actor: str | None, *, what: str
) -> dict[str, Any]:
    """Check that `actor` may work on `task` (its assignee, their cover, a lane member).

    Args:
        what: the action, for the refusal message (e.g. "claim", "log effort on").

    Returns:
        Facts for the event (``covering_for``).
    """
    doer = acting_user(session, actor)
    standing = _standing(session, services, doer, task, mind_claim=False)
    if standing is None:
        raise _refusal(doer, task, what)
    return standing


def authorize_unclaim(
    session: Session, services: Services, task: OpenTask, actor: str | None
) -> tuple[bool, dict[str, Any]]:
    """Check that `actor` may release the claim on `task`.

    Returns:
        Whether the claim is someone else's (a forced release), and facts for the event.
    """
    doer = acting_user(session, actor)
    holder = task.claimed_by
    if holder is None or holder == doer.username:
        return False, {}
    if holder in covered_by(session, doer.username, today(services)):
        return True, {"covering_for": holder}
    if doer.has_role(*OPERATORS):
        return True, {}
    raise PermissionDenied(
        f"{doer.username} may not release {task}: it is claimed by {holder} "
        "(only they, their cover, an ops lead or an admin may)"
    )


def authorize_reassign(
    session: Session, task: OpenTask, actor: str | None, assignee: str | None
) -> Person:
    """Check that `actor` may give `task` to `assignee`; returns the acting user.

    Raises:
        PermissionDenied: the actor is not an ops lead or an admin.
        NotFoundError: no such assignee.
        ValueError: the assignee is inactive or does not hold the lane's role.
    """
    doer = acting_user(session, actor)
    require_operator(doer, f"reassign {task}")
    if assignee is not None:
        user = get_user(session, assignee)
        if not user.active:
            raise ValueError(f"{assignee} is not active")
        if task.role is not None and not user.has_role(task.role):
            raise ValueError(f"{assignee} cannot take {task}: the lane is worked by the role {task.role}")
    return doer
