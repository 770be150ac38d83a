"""Running engagements move to another version of their process: a dry run, then a batch.

* `dry_run_migration`: every running engagement of the process on another version gets a verdict
  (moves as is, moves with effects, cannot move) with the effects in words. Nothing is written.
* `migrate_engagements`: the chosen engagements move, **each in its own transaction** (one that
  fails or is refused leaves the others moving), each checked against the version it was read at,
  each recorded as a `migrated` event. Moving back to the old version is the undo, the same way.

Both are for ops leads and admins (`MIGRATE_ENGAGEMENTS`), checked inside; the pages, the API
and the CLI call these functions. The move is `engine.migration` (SpiffWorkflow's diff and
migration); deadlines of open steps are recomputed from when each step became ready
(`workflows.time.deadlines.MovedDeadline`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.definitions import DefinitionInfo, properties_of
from engine.errors import ConflictError, EngineError, NotFoundError
from engine.migration import (
    CHANGED_OPEN,
    REFUSED,
    REMOVED_PASSED,
    RENAMED_OPEN,
    VERDICTS,
    InstancePlan,
    MappingError,
    MigrationRefused,
    Migrator,
    SpecPairing,
    plan_instance,
)
from engine.models import DefinitionVersion, Event, HumanTask, WorkflowInstance
from engine.projection import ready_info
from workflows.engagements.migration_words import effect_sentences, refusal_sentence
from workflows.engagements.versions import check_version
from workflows.models import Engagement
from workflows.people.permissions import MIGRATE_ENGAGEMENTS, authorize
from workflows.services import Services
from workflows.time.deadlines import MovedDeadline

MAX_NOTE = 2000
_CHUNK = 500  # ids per IN (...) list


@dataclass
class EngagementPlan:
    """One engagement's verdict, with what changes for it in words."""

    engagement_id: int
    client: str
    name: str
    version: str  # the engagement version it was planned at (for the batch's check)
    from_version: int
    verdict: str
    sentences: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    plan: InstancePlan | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (the CLI's ``--json``; the API has its schema)."""
        return {
            "engagement_id": self.engagement_id,
            "client": self.client,
            "name": self.name,
            "version": self.version,
            "from_version": self.from_version,
            "verdict": self.verdict,
            "stages": list(self.stages),
            "effects": list(self.sentences),
        }


@dataclass
class DryRun:
    """Every running engagement of a process on another version, grouped by verdict."""

    process_id: str
    target: DefinitionVersion
    mapping: dict[str, str]
    engagements: list[EngagementPlan]

    def grouped(self) -> dict[str, list[EngagementPlan]]:
        """Verdict -> engagements (every verdict present, possibly empty)."""
        groups: dict[str, list[EngagementPlan]] = {v: [] for v in VERDICTS}
        for e in self.engagements:
            groups[e.verdict].append(e)
        return groups


@dataclass
class Outcome:
    """What the batch did with one engagement."""

    engagement_id: int
    status: str  # migrated | refused | conflict | failed
    message: str
    from_version: int | None = None
    to_version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "engagement_id": self.engagement_id,
            "status": self.status,
            "message": self.message,
            "from_version": self.from_version,
            "to_version": self.to_version,
        }


def _target(session: Session, services: Services, process_id: str, version: int) -> DefinitionVersion:
    row = session.scalar(
        select(DefinitionVersion).where(
            DefinitionVersion.process_id == process_id, DefinitionVersion.version == version
        )
    )
    if row is None:
        raise NotFoundError(f"{process_id} has no version {version}")
    return row


def _check_mapping(mapping: Mapping[str, str] | None) -> dict[str, str]:
    clean: dict[str, str] = {}
    for old, new in (mapping or {}).items():
        old, new = str(old).strip(), str(new).strip()
        if not old or not new:
            raise MappingError("a mapping pairs an old step id with a new one; both are needed")
        clean[old] = new
    return clean


def _running_on_others(
    session: Session, process_id: str, target_id: int
) -> list[tuple[Engagement, WorkflowInstance]]:
    rows = session.execute(
        select(Engagement, WorkflowInstance)
        .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
        .join(DefinitionVersion, DefinitionVersion.id == WorkflowInstance.definition_id)
        .where(
            DefinitionVersion.process_id == process_id,
            WorkflowInstance.definition_id != target_id,
            WorkflowInstance.status == "running",
        )
        .order_by(Engagement.id)
    )
    return [(e, i) for e, i in rows]


class _Words:
    """Turns plans into sentences, with the due times the move would give."""

    def __init__(self, session: Session, services: Services, instance_ids: list[int]) -> None:
        self.services = services
        self.session = session
        self.deadline = MovedDeadline(services.calendar)
        self.open_rows: dict[tuple[int, str], HumanTask] = {}
        self.completed: dict[tuple[int, str], datetime | None] = {}
        # (BPMN id, task id) of the steps each instance completed (a compacted tree lacks them)
        self.passed: dict[int, list[tuple[str, str]]] = {i: [] for i in instance_ids}
        for at in range(0, len(instance_ids), _CHUNK):
            ids = instance_ids[at : at + _CHUNK]
            for row in session.scalars(
                select(HumanTask).where(HumanTask.instance_id.in_(ids), HumanTask.state == "ready")
            ):
                self.open_rows[(row.instance_id, row.task_id)] = row
            done = session.execute(
                select(HumanTask.instance_id, HumanTask.bpmn_id, HumanTask.task_id, HumanTask.completed_at)
                .where(HumanTask.instance_id.in_(ids), HumanTask.state == "completed")
                .order_by(HumanTask.id)
            )
            for instance_id, bpmn_id, task_id, completed_at in done:
                self.passed[instance_id].append((bpmn_id, task_id))
                self.completed[(instance_id, task_id)] = completed_at

    def plan_words(self, plan: InstancePlan, workflow: Any, now: datetime) -> list[str]:
        if plan.verdict == REFUSED:
            return [refusal_sentence(r, plan.target.version) for r in plan.refusals]
        out: list[str] = []
        forms = (plan.source.forms, plan.target.forms)
        target_spec, _subs = self.services.definitions.spec_for(plan.target)
        for effect in plan.effects:
            due = None
            passed_on = None
            if effect.kind in (CHANGED_OPEN, RENAMED_OPEN) and effect.task_id and "sla" in effect.changes:
                due = self._due(
                    plan, effect.task_id, effect.new_step or effect.step, target_spec, workflow, now
                )
            if effect.kind == REMOVED_PASSED and effect.task_id:
                passed_on = self._completed_at(plan.instance_id, effect.task_id)
            out.extend(
                effect_sentences(
                    effect,
                    calendar=self.services.calendar,
                    forms=forms,
                    due=due,
                    passed_on=passed_on,
                    target_version=plan.target.version,
                )
            )
        return out

    def _due(
        self, plan: InstancePlan, task_id: str, new_id: str, target_spec: Any, workflow: Any, now: datetime
    ) -> tuple[datetime | None, datetime | None] | None:
        row = self.open_rows.get((plan.instance_id, task_id))
        spec = target_spec.task_specs.get(new_id)
        if row is None or spec is None:
            return None
        task = workflow.get_task_from_id(UUID(task_id))
        if task is None:
            return None
        info = ready_info(plan.instance_id, task, row.created_at)
        info = replace(info, properties=properties_of(spec))
        moved = self.deadline(self.session, info, row, now)
        return row.due_at, moved.get("due_at")

    def _completed_at(self, instance_id: int, task_id: str) -> datetime | None:
        return self.completed.get((instance_id, task_id))


def dry_run_migration(
    session: Session,
    services: Services,
    process_id: str,
    version: int,
    *,
    actor: str,
    mapping: Mapping[str, str] | None = None,
) -> DryRun:
    """Every running engagement of `process_id` on another version than `version`, judged.

    Nothing is written. Ops leads and admins only.

    Args:
        session: the unit of work (read only).
        services: Baton's services.
        process_id, version: the version to move to.
        actor: who asks.
        mapping: old step id -> new step id, for steps renamed in the target version.

    Raises:
        PermissionDenied, NotFoundError; MappingError (a mapped id is not in its version).
    """
    authorize(session, actor, MIGRATE_ENGAGEMENTS)
    target_row = _target(session, services, process_id, version)
    clean = _check_mapping(mapping)
    target = services.definitions.info(session, target_row.id)
    migrator = Migrator(services.runtime)
    pairings: dict[int, SpecPairing] = {}
    running = _running_on_others(session, process_id, target.id)
    instance_ids = [i.id for _e, i in running]
    words = _Words(session, services, instance_ids)
    last_events = _last_events(session, instance_ids)
    now = services.runtime.clock()
    plans: list[EngagementPlan] = []
    read = services.store.read_many(session, instance_ids)
    for (engagement, instance), (head, workflow) in zip(running, read, strict=True):
        source = services.definitions.info(session, head.definition_id)
        pairing = pairings.get(source.id)
        if pairing is None:
            pairing = pairings[source.id] = migrator.pairing(
                source, target, _applicable(clean, source, services)
            )
        plan = plan_instance(pairing, instance.id, head.revision, workflow, words.passed[instance.id])
        plans.append(
            EngagementPlan(
                engagement.id,
                engagement.client,
                engagement.name,
                f"{head.revision}.{last_events.get(instance.id, 0)}",  # as engagement_version reads it
                source.version,
                plan.verdict,
                words.plan_words(plan, workflow, now),
                list(instance.active_stages or []),
                plan,
            )
        )
    return DryRun(process_id, target_row, clean, plans)


def _last_events(session: Session, instance_ids: list[int]) -> dict[int, int]:
    """The last event id of each instance (the second half of an engagement's version)."""
    last: dict[int, int] = {}
    for at in range(0, len(instance_ids), _CHUNK):
        ids = instance_ids[at : at + _CHUNK]
        rows = session.execute(
            select(Event.instance_id, func.max(Event.id))
            .where(Event.instance_id.in_(ids))
            .group_by(Event.instance_id)
        )
        last.update({instance_id: event_id for instance_id, event_id in rows})
    return last


def _applicable(mapping: dict[str, str], source: DefinitionInfo, services: Services) -> dict[str, str]:
    """The part of a mapping whose old ids the source version has (one mapping serves a batch
    whose engagements run on several versions)."""
    spec, _subs = services.definitions.spec_for(source)
    return {old: new for old, new in mapping.items() if old in spec.task_specs}


def migrate_engagements(
    services: Services,
    process_id: str,
    version: int,
    engagement_ids: Iterable[int],
    *,
    actor: str,
    note: str,
    mapping: Mapping[str, str] | None = None,
    expected: Mapping[int, str] | None = None,
    on_progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Move the chosen engagements to `version`, each in its own transaction.

    Args:
        services: Baton's services (each engagement gets its own unit of work).
        process_id, version: the version to move to (an older one undoes a move).
        engagement_ids: which engagements.
        actor: who moves them (ops leads and admins).
        note: why (required; kept in each `migrated` event).
        mapping: old step id -> new step id for renamed steps.
        expected: engagement id -> the version it was planned at (see
            `workflows.engagements.versions`); one that changed since is not moved (conflict).
        on_progress: called after each engagement with its outcome (progress bars).

    Returns:
        One outcome per engagement, in order: migrated, refused, conflict or failed.

    Raises:
        PermissionDenied, NotFoundError, MappingError, ValueError (no note): before anything moves.
    """
    note = (note or "").strip()
    clean = _check_mapping(mapping)
    with services.db.unit_of_work(write=False) as session:
        authorize(session, actor, MIGRATE_ENGAGEMENTS)
        if not note:
            raise ValueError("say why the engagements move: a note is required")
        if len(note) > MAX_NOTE:
            raise ValueError(f"the note is longer than {MAX_NOTE} characters")
        target_row = _target(session, services, process_id, version)
        target = services.definitions.info(session, target_row.id)
    migrator = Migrator(services.runtime, MovedDeadline(services.calendar))
    pairings: dict[int, SpecPairing] = {}
    outcomes: list[Outcome] = []
    for engagement_id in engagement_ids:
        outcome = _migrate_one(
            services,
            migrator,
            pairings,
            engagement_id,
            target,
            clean,
            actor,
            note,
            (expected or {}).get(engagement_id),
        )
        outcomes.append(outcome)
        if on_progress is not None:
            on_progress(outcome)
    return outcomes


def _migrate_one(
    services: Services,
    migrator: Migrator,
    pairings: dict[int, SpecPairing],
    engagement_id: int,
    target: DefinitionInfo,
    mapping: dict[str, str],
    actor: str,
    note: str,
    expected: str | None,
) -> Outcome:
    source_version: int | None = None
    try:
        with services.db.unit_of_work() as session:
            revision = check_version(session, engagement_id, expected)
            found = session.execute(
                select(Engagement.instance_id, WorkflowInstance.definition_id)
                .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
                .where(Engagement.id == engagement_id)
            ).first()
            if found is None:
                raise NotFoundError(f"no engagement {engagement_id}")
            instance_id, definition_id = found
            source = services.definitions.info(session, definition_id)
            source_version = source.version
            if source.process_id != target.process_id:
                raise ConflictError(
                    f"engagement {engagement_id} runs {source.process_id}, not {target.process_id}"
                )
            if source.id == target.id:
                raise ConflictError(f"engagement {engagement_id} is on v{target.version} already")
            pairing = pairings.get(source.id)
            if pairing is None:
                pairing = pairings[source.id] = migrator.pairing(
                    source, target, _applicable(mapping, source, services)
                )
            words = _Words(session, services, [instance_id])
            now = services.runtime.clock()
            migrator.migrate(
                session,
                instance_id,
                pairing,
                actor=actor,
                note=note,
                expected_revision=revision,
                passed=words.passed[instance_id],
                describe=lambda plan, workflow: {"effects_in_words": words.plan_words(plan, workflow, now)},
            )
        return Outcome(
            engagement_id,
            "migrated",
            f"moved from v{source.version} to v{target.version}",
            source.version,
            target.version,
        )
    except MigrationRefused as exc:
        reasons = "; ".join(refusal_sentence(r, target.version) for r in exc.plan.refusals)
        return Outcome(engagement_id, "refused", reasons, source_version, None)
    except ConflictError as exc:
        return Outcome(engagement_id, "conflict", str(exc), source_version, None)
    except EngineError as exc:
        return Outcome(engagement_id, "failed", str(exc), source_version, None)


def migration_history(session: Session, instance_id: int) -> list[Event]:
    """The `migrated` events of an instance, oldest first (the engagement page's line)."""
    return list(
        session.scalars(
            select(Event).where(Event.instance_id == instance_id, Event.kind == "migrated").order_by(Event.id)
        )
    )
