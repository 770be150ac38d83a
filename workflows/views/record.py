"""The record of an engagement: what each step submitted, per round, and what a task needs to see.

Read from the history only — the ``task_completed`` events (whose detail keeps the submitted
form data, see `workflows.engagements.tasks.complete_task`) joined to their ``human_task`` rows
for the step's title and round — never from the live task tree, which may be compacted.

A task page shows beside its form the record the step needs (`task_record`):

* an approval step shows the latest submission of the step(s) it approves: the user tasks found
  walking back from it through gateways, events and scripts (``brief_write`` for ``brief_approve``);
* a step that runs again (rework) gets its own previous submission, to start from, and the
  decision that sent it back, with its comment;
* whatever the definition names in the task's ``shows`` property: comma-separated step ids (their
  latest submission) and data keys (their current value: a fact of the instance, else the latest
  submission that holds it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine.definitions import element_id, properties_of
from engine.models import Event, HumanTask, WorkflowInstance
from workflows.agency import APPROVAL_PROPERTY, APPROVED, is_true
from workflows.engagements.lifecycle import get_engagement
from workflows.engagements.tasks import SUBMITTED
from workflows.people.permissions import READ, authorize
from workflows.services import Services

SHOWS_PROPERTY = "shows"
DATA_KEY = SUBMITTED  # the event detail key holding what a step's form submitted


@dataclass(frozen=True)
class Submission:
    """What one run of a step submitted: who, when, the data, and the decision taken."""

    step: str  # BPMN id
    title: str
    round: int  # 1 for the first run of the step, 2 for the first rework...
    actor: str | None
    at: datetime
    data: dict[str, Any] | None  # None: completed before submissions were kept
    form: str | None  # the file name of the step's form (for field titles)
    decision: str | None = None
    comment: str | None = None
    on_behalf_of: str | None = None
    task_id: str | None = None


@dataclass(frozen=True)
class Change:
    """One field that differs between two rounds of a step."""

    key: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class Round:
    """A submission with what changed since the step's previous round (empty for the first)."""

    submission: Submission
    changes: list[Change] = field(default_factory=list)
    previous: Submission | None = None


@dataclass(frozen=True)
class Value:
    """A data key the definition asks a task to show, with its current value."""

    key: str
    value: Any
    form: str | None  # the form that submitted it (for its title), None for a fact


@dataclass
class TaskRecord:
    """What a task page shows beside the form."""

    rounds: list[Round] = field(default_factory=list)  # the steps it approves and those it names
    values: list[Value] = field(default_factory=list)  # the data keys it names
    previous: Submission | None = None  # rework: this step's last submission, to start from
    sent_back: Submission | None = None  # rework: the decision that sent it back

    @property
    def empty(self) -> bool:
        """True when there is nothing to show."""
        return not (self.rounds or self.values or self.previous or self.sent_back)

    def value(self, key: str) -> Any:
        """The value of a data key in the record (its values, else the submissions shown)."""
        for item in self.values:
            if item.key == key:
                return item.value
        for r in self.rounds:
            if r.submission.data and key in r.submission.data:
                return r.submission.data[key]
        return None


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Change]:
    """The fields that differ between two submissions, in the order of the later one."""
    old, new = dict(before or {}), dict(after or {})
    keys = list(new) + [k for k in old if k not in new]
    return [Change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def submissions(session: Session, instance_id: int) -> list[Submission]:
    """Every step completion of an instance, oldest first, with its round.

    The round of a step is its run (``human_task.run``); the instances of a multi-instance
    activity share a round, counted by the activity's task id.
    """
    rows = session.execute(
        select(Event, HumanTask.title, HumanTask.run, HumanTask.form, HumanTask.multi_instance_of)
        .outerjoin(
            HumanTask,
            and_(HumanTask.instance_id == Event.instance_id, HumanTask.task_id == Event.task_id),
        )
        .where(Event.instance_id == instance_id, Event.kind == "task_completed")
        .order_by(Event.id)
    ).all()
    counted: dict[str, int] = {}
    multi: dict[tuple[str, str], int] = {}
    out: list[Submission] = []
    for event, title, run, form, multi_of in rows:
        step = event.bpmn_id or ""
        if multi_of is not None:
            key = (step, multi_of)
            if key not in multi:
                multi[key] = counted[step] = counted.get(step, 0) + 1
            number = multi[key]
        else:
            number = run or counted.get(step, 0) + 1
            counted[step] = number
        detail = event.detail or {}
        data = detail.get(DATA_KEY)
        out.append(
            Submission(
                step=step,
                title=title or step,
                round=number,
                actor=event.actor,
                at=event.at,
                data=dict(data) if isinstance(data, Mapping) else None,
                form=form,
                decision=event.decision,
                comment=detail.get("comment"),
                on_behalf_of=detail.get("on_behalf_of"),
                task_id=event.task_id,
            )
        )
    return out


def history_rounds(session: Session, services: Services, engagement_id: int, *, actor: str) -> list[Round]:
    """Every earlier submission of an engagement, oldest first, each with its changes since the
    step's previous round.

    Raises:
        PermissionDenied, NotFoundError.
    """
    authorize(session, actor, READ)
    engagement = get_engagement(session, engagement_id)
    return rounds_of(submissions(session, engagement.instance_id))


def by_step(rounds: Iterable[Round]) -> list[tuple[str, list[Round]]]:
    """Rounds grouped per step (steps in the order they first ran), each step's rounds in order."""
    groups: dict[str, list[Round]] = {}
    for r in rounds:
        groups.setdefault(r.submission.step, []).append(r)
    return [(group[0].submission.title, group) for group in groups.values()]


def rounds_of(subs: Iterable[Submission]) -> list[Round]:
    """Submissions with their changes since the same step's previous round."""
    last: dict[str, Submission] = {}
    out: list[Round] = []
    for sub in subs:
        before = last.get(sub.step)
        # instances of one multi-instance round are siblings, not reworks of each other
        if before is not None and before.round != sub.round and sub.data is not None:
            out.append(Round(sub, diff(before.data, sub.data), before))
        else:
            out.append(Round(sub))
        last[sub.step] = sub
    return out


def _specs_named(services: Services, definition_id: int, session: Session) -> dict[str, list[Any]]:
    """The definition's task specs by BPMN id (a multi-instance activity has several)."""
    info = services.definitions.info(session, definition_id)
    spec, subprocesses = services.definitions.spec_for(info)
    named: dict[str, list[Any]] = {}
    for process in (spec, *subprocesses.values()):
        for task_spec in process.task_specs.values():
            named.setdefault(element_id(task_spec), []).append(task_spec)
    return named


def steps_before(task_specs: Iterable[Any]) -> list[str]:
    """The user tasks reached walking back from `task_specs` through everything else.

    Gateways, events and script tasks are passed through; each user task met ends its path.
    """
    start = list(task_specs)
    names = {ts.name for ts in start}
    seen: set[str] = set(names)
    found: list[str] = []
    stack = [i for ts in start for i in reversed(list(getattr(ts, "inputs", [])))]
    while stack:
        spec = stack.pop()
        if spec.name in seen:
            continue
        seen.add(spec.name)
        if getattr(spec, "manual", False):
            if element_id(spec) not in found:
                found.append(element_id(spec))
            continue
        stack.extend(reversed(list(getattr(spec, "inputs", []))))
    return found


def shows_of(properties: Mapping[str, str]) -> list[str]:
    """The entries of a task's ``shows`` property (comma-separated step ids and data keys)."""
    raw = str(properties.get(SHOWS_PROPERTY) or "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def task_record(session: Session, services: Services, task: HumanTask, definition_id: int) -> TaskRecord:
    """What the task's page shows beside its form (see the module's docstring).

    The caller has checked the reader may read the engagement (`workflows.views.inbox.task_detail`).
    """
    subs = [s for s in submissions(session, task.instance_id) if s.task_id != task.task_id]
    named = _specs_named(services, definition_id, session)
    own = [ts for ts in named.get(task.bpmn_id, []) if getattr(ts, "manual", False)]
    approval = is_true(task.properties or {}, APPROVAL_PROPERTY) or any(
        is_true(properties_of(ts), APPROVAL_PROPERTY) for ts in own
    )
    steps: list[str] = steps_before(own) if approval else []
    keys: list[str] = []
    for entry in shows_of(task.properties or {}):
        is_step = any(getattr(ts, "manual", False) for ts in named.get(entry, []))
        (steps if is_step else keys).append(entry)
    record = TaskRecord()
    last_of: dict[str, Submission] = {}
    previous_of: dict[str, Submission] = {}
    for sub in subs:
        before = last_of.get(sub.step)
        if before is not None and before.round != sub.round:
            previous_of[sub.step] = before
        last_of[sub.step] = sub
    for step in dict.fromkeys(steps):
        if step == task.bpmn_id or step not in last_of:
            continue
        latest = last_of[step]
        before = previous_of.get(step)
        changes = diff(before.data, latest.data) if before and latest.data is not None else []
        record.rounds.append(Round(latest, changes, before))
    facts = _facts(session, task.instance_id)
    for key in keys:
        if key in facts:
            record.values.append(Value(key, facts[key], None))
            continue
        holder = next((s for s in reversed(subs) if s.data and key in s.data), None)
        if holder is not None and holder.data is not None:
            record.values.append(Value(key, holder.data[key], holder.form))
    mine = last_of.get(task.bpmn_id)
    if mine is not None and not approval:
        record.previous = mine
        record.sent_back = next(
            (
                s
                for s in reversed(subs)
                if s.at >= mine.at and s.decision not in (None, APPROVED) and s.step != task.bpmn_id
            ),
            None,
        )
    return record


def _facts(session: Session, instance_id: int) -> dict[str, Any]:
    facts = session.scalar(select(WorkflowInstance.facts).where(WorkflowInstance.id == instance_id))
    return dict(facts or {})
