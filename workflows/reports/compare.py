"""Before and after a definition change: the same figures for two versions of a process, each
with the number of engagements or steps it rests on and a 95 % interval on the change.

Each version's figures come from the steps that ran on it (`human_task.definition_id`: an
engagement migrated from v1 to v2 counts its early steps under v1, the rest under v2): business
hours, rework rounds and effort cost per engagement, SLA compliance (deadlines kept of those
judged: completed with a deadline, or open past it), median, p90 and total hours per stage, mean
duration and breach rate per task. The change is B minus A. It is called better or worse only
when both sides have the minimum sample (``[reports] minimum_sample`` in ``rates.toml``; below it
"not enough engagements yet") and the interval (`workflows.reports.stats`) excludes zero; else
"no clear change". Totals grow with volume and are never judged."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.models import DefinitionVersion, HumanTask
from workflows.agency import STAGES
from workflows.models import Effort
from workflows.people.permissions import READ_REPORTS, authorize
from workflows.reports.costs import rate_card
from workflows.reports.filters import check_filters
from workflows.reports.heatmap import (
    ElementFigures,
    Heatmap,
    element_figures,
    human_tasks_of,
    painted,
    resolve_version,
)
from workflows.reports.process import UNSET, ReportFilter, percentile, tasks_scoped
from workflows.reports.stats import (
    Interval,
    mean_difference,
    minimum_sample,
    quantile_difference,
    share_difference,
)
from workflows.services import Services

LOWER, HIGHER, NEUTRAL = "lower", "higher", "neutral"  # which way is better
SECTIONS = ("summary", "time per stage", "SLA per stage", "time per task")
# a change smaller than this is no change (hours and shares are rounded for the page anyway)
EPSILON = 1e-6
TOO_FEW = "not enough engagements yet"
UNCLEAR = "no clear change"  # the interval on the difference includes zero


@dataclass(frozen=True)
class Comparison:
    """One figure for versions A and B, how many it rests on, and an interval on B - A."""

    section: str
    key: str  # what it is about: a stage, a task, or the whole version
    measure: str  # e.g. "median hours", "compliance"
    a: float | None
    b: float | None
    better: str = LOWER  # LOWER, HIGHER or NEUTRAL
    unit: str = ""  # "h", "%" (a share 0-1), a currency, or "" (a count)
    n_a: int = 0  # engagements (summary) or tasks (per stage or task) the figure of A rests on
    n_b: int = 0
    interval: Interval | None = None  # 95 % on B - A
    minimum: int = 1  # the smallest n on either side judged better or worse
    engagements: tuple[int, int] = (0, 0)  # each side's engagements: a figure needs enough of them

    @property
    def delta(self) -> float | None:
        """B minus A (None when either is missing)."""
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def enough(self) -> bool:
        """Whether both sides have at least the minimum sample (engagements and cases)."""
        return min(self.n_a, self.n_b, *self.engagements) >= self.minimum

    @property
    def change(self) -> str:
        """``better`` or ``worse`` (the interval excludes zero), ``same``, `UNCLEAR`, `TOO_FEW`,
        or ``-`` (not comparable, or neither way is better)."""
        delta = self.delta
        if delta is None or self.better == NEUTRAL:
            return "-"
        if not self.enough:
            return TOO_FEW
        if abs(delta) < EPSILON:
            return "same"
        if self.interval is None or not self.interval.excludes_zero:
            return UNCLEAR
        return "better" if (delta < 0) == (self.better == LOWER) else "worse"

    def as_row(self) -> dict[str, Any]:
        """One flat row (JSON, CSV, the page's tables)."""
        digits = 4 if self.unit == "%" else 2

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "section": self.section,
            "key": self.key,
            "measure": self.measure,
            "unit": self.unit,
            "a": rounded(self.a),
            "b": rounded(self.b),
            "n_a": self.n_a,
            "n_b": self.n_b,
            "delta": rounded(self.delta),
            "low": rounded(self.interval.low) if self.interval else None,
            "high": rounded(self.interval.high) if self.interval else None,
            "change": self.change,
        }


@dataclass(frozen=True)
class VersionComparison:
    """Two versions of a process, their figures side by side, and their heatmaps."""

    process_id: str
    a: int
    b: int
    notes: tuple[str, str]  # what each version's deploy note says
    figures: list[Comparison]
    heatmaps: tuple[Heatmap, Heatmap]  # by mean duration, on one shared scale
    minimum: int = 1  # the smallest sample judged better or worse
    engagements: tuple[int, int] = (0, 0)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every figure as a flat row."""
        return [f.as_row() for f in self.figures]

    @property
    def enough(self) -> bool:
        """Whether both versions have at least the minimum of engagements."""
        return min(self.engagements) >= self.minimum


def latest_two(session: Session, process_id: str) -> tuple[int, int]:
    """The default pair: the version before the latest, and the latest (the same twice when only
    one is deployed).

    Raises:
        NotFoundError: nothing of the process is deployed.
    """
    newest = session.scalars(
        select(DefinitionVersion.version)
        .where(DefinitionVersion.process_id == process_id)
        .order_by(DefinitionVersion.version.desc())
        .limit(2)
    ).all()
    if not newest:
        raise NotFoundError(f"no deployed definition '{process_id}'")
    return newest[-1], newest[0]


@dataclass
class _Counts:
    """Deadlines judged (completed with one, or open past it) and how many were kept or missed."""

    judged: int = 0
    kept: int = 0

    @property
    def share(self) -> float | None:
        return self.kept / self.judged if self.judged else None


@dataclass
class _Side:
    """The samples of one version: per engagement, per stage, per task (steps that ran on it)."""

    hours: dict[int, float] = field(default_factory=dict)  # instance -> business hours done
    rounds: dict[int, float] = field(default_factory=dict)  # instance -> rework rounds
    cost: dict[int, float] = field(default_factory=dict)  # instance -> effort at the rate card
    deadlines: _Counts = field(default_factory=_Counts)
    stage_hours: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    stage_deadlines: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    task_hours: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    task_late: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))  # kept: late
    currency: str = ""
    tasks: dict[str, ElementFigures] = field(default_factory=dict)

    @property
    def engagements(self) -> int:
        return len(self.hours)


def _side(session: Session, services: Services, filters: ReportFilter, row: DefinitionVersion) -> _Side:
    """One version's samples: every step that ran on it (its `human_task.definition_id`) in the
    filter's period and client, and the effort logged against those steps."""
    side = _Side()
    query = tasks_scoped(
        select(
            HumanTask.instance_id,
            HumanTask.task_id,
            HumanTask.stage,
            HumanTask.bpmn_id,
            HumanTask.state,
            HumanTask.business_hours,
            HumanTask.due_at,
            HumanTask.completed_at,
            HumanTask.sla_state,
            HumanTask.run,
        ),
        filters,
    )
    if filters.start is not None:
        query = query.where(HumanTask.created_at >= filters.start)
    if filters.end is not None:
        query = query.where(HumanTask.created_at < filters.end)
    steps: set[tuple[int, str]] = set()
    for instance, task_id, stage, bpmn_id, state, hours, due, done, sla_state, run in session.execute(query):
        if state == "cancelled":
            continue
        steps.add((instance, task_id))
        side.hours.setdefault(instance, 0.0)
        side.rounds.setdefault(instance, 0.0)
        side.cost.setdefault(instance, 0.0)
        if run is not None and run > 1:
            side.rounds[instance] += 1
        completed = state == "completed"
        if completed and hours is not None:
            side.hours[instance] += hours
            side.stage_hours[stage or UNSET].append(hours)
            side.task_hours[bpmn_id].append(hours)
        if due is not None and (completed or sla_state == "breached"):
            # an open step past its deadline is already a missed one
            kept = completed and done is not None and done <= due
            for counts in (side.deadlines, side.stage_deadlines[stage or UNSET]):
                counts.judged += 1
                counts.kept += int(kept)
            late = side.task_late[bpmn_id]
            late.judged += 1
            late.kept += int(not kept)
    card = rate_card(services)
    side.currency = card.currency
    effort = select(Effort.instance_id, Effort.task_id, Effort.lane, Effort.hours)
    if side.hours:
        effort = effort.where(Effort.instance_id.in_(list(side.hours)))
        for instance, task_id, lane, hours in session.execute(effort):
            if (instance, task_id) in steps:
                side.cost[instance] += hours * card.rate_for_lane(lane)
    for values in (*side.stage_hours.values(), *side.task_hours.values()):
        values.sort()
    figures = element_figures(session, services, filters, human_tasks_of(row.bpmn_xml))
    side.tasks = {f.bpmn_id: f for f in figures}
    return side


def _in_order(keys: set[str]) -> list[str]:
    known = [s for s in STAGES if s in keys]
    return known + sorted(keys - set(known))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _figures(a: _Side, b: _Side, minimum: int) -> list[Comparison]:
    engagements = (a.engagements, b.engagements)

    def per_engagement(
        key: str, of_a: dict[int, float], of_b: dict[int, float], unit: str = ""
    ) -> Comparison:
        xs, ys = list(of_a.values()), list(of_b.values())
        return Comparison(
            "summary",
            key,
            "per engagement",
            _mean(xs),
            _mean(ys),
            LOWER,
            unit,
            len(xs),
            len(ys),
            mean_difference(xs, ys),
            minimum,
            engagements,
        )

    def shares(
        section: str, key: str, measure: str, ca: _Counts | None, cb: _Counts | None, better: str
    ) -> Comparison:
        ca, cb = ca or _Counts(), cb or _Counts()
        return Comparison(
            section,
            key,
            measure,
            ca.share,
            cb.share,
            better,
            "%",
            ca.judged,
            cb.judged,
            share_difference(ca.kept, ca.judged, cb.kept, cb.judged),
            minimum,
            engagements,
        )

    out = [
        Comparison(
            "summary",
            "engagements",
            "count",
            a.engagements,
            b.engagements,
            NEUTRAL,
            n_a=a.engagements,
            n_b=b.engagements,
            minimum=minimum,
            engagements=engagements,
        ),
        per_engagement("business hours", a.hours, b.hours, "h"),
        shares("summary", "SLA compliance", "share on time", a.deadlines, b.deadlines, HIGHER),
        per_engagement("rework rounds", a.rounds, b.rounds),
        per_engagement("effort cost", a.cost, b.cost, a.currency or b.currency),
    ]
    for stage in _in_order(set(a.stage_hours) | set(b.stage_hours)):
        xs, ys = a.stage_hours.get(stage, []), b.stage_hours.get(stage, [])
        for measure, share in (("median hours", 0.5), ("p90 hours", 0.9)):
            out.append(
                Comparison(
                    "time per stage",
                    stage,
                    measure,
                    percentile(xs, share) if xs else None,
                    percentile(ys, share) if ys else None,
                    LOWER,
                    "h",
                    len(xs),
                    len(ys),
                    quantile_difference(xs, ys, share),
                    minimum,
                    engagements,
                )
            )
        # a total grows with the number of engagements: shown, never judged
        out.append(
            Comparison(
                "time per stage",
                stage,
                "total hours",
                sum(xs) if xs else None,
                sum(ys) if ys else None,
                NEUTRAL,
                "h",
                len(xs),
                len(ys),
                None,
                minimum,
                engagements,
            )
        )
    for stage in _in_order(set(a.stage_deadlines) | set(b.stage_deadlines)):
        out.append(
            shares(
                "SLA per stage",
                stage,
                "share on time",
                a.stage_deadlines.get(stage),
                b.stage_deadlines.get(stage),
                HIGHER,
            )
        )
    for bpmn_id in list(dict.fromkeys([*a.tasks, *b.tasks])):
        ta, tb = a.tasks.get(bpmn_id), b.tasks.get(bpmn_id)
        either = tb or ta
        label = either.name if either else bpmn_id
        xs, ys = a.task_hours.get(bpmn_id, []), b.task_hours.get(bpmn_id, [])
        la, lb = a.task_late.get(bpmn_id), b.task_late.get(bpmn_id)
        if not (xs or ys or la or lb):
            continue  # neither version ran it
        out.append(
            Comparison(
                "time per task",
                label,
                "mean hours",
                _mean(xs),
                _mean(ys),
                LOWER,
                "h",
                len(xs),
                len(ys),
                mean_difference(xs, ys),
                minimum,
                engagements,
            )
        )
        out.append(shares("time per task", label, "breach rate", la, lb, LOWER))
    return out


def compare_versions(
    session: Session,
    services: Services,
    process_id: str,
    a: int | None = None,
    b: int | None = None,
    *,
    filters: ReportFilter | None = None,
    minimum: int | None = None,
    actor: str,
) -> VersionComparison:
    """Versions `a` and `b` of `process_id` side by side (default: the latest two), for `actor`.

    Args:
        session: the unit of work.
        services: Baton's services.
        process_id: the process.
        a: the earlier version (the "before").
        b: the later version (the "after").
        filters: period and client (the definition fields are set per version).
        minimum: the smallest sample judged better or worse (default: the rate card file's
            ``[reports] minimum_sample``).
        actor: who asks: leadership, an ops lead or an admin.

    Raises:
        PermissionDenied: the actor may not read reports.
        NotFoundError: no such process or version.
    """
    authorize(session, actor, READ_REPORTS)
    check_filters(session, filters or ReportFilter())
    default_a, default_b = latest_two(session, process_id)
    rows = (
        resolve_version(session, services, process_id, default_a if a is None else a),
        resolve_version(session, services, process_id, default_b if b is None else b),
    )
    base = filters or ReportFilter()
    scoped = [ReportFilter(base.start, base.end, process_id, base.client, row.id) for row in rows]
    side_a, side_b = (_side(session, services, f, row) for f, row in zip(scoped, rows, strict=True))
    least = minimum if minimum is not None else minimum_sample(services.definitions_dir / "rates.toml")
    # one duration scale for both diagrams, so the same colour means the same hours
    top = max(
        (f.mean_hours or 0.0 for side in (side_a, side_b) for f in side.tasks.values()),
        default=0.0,
    )
    maps = [
        painted(row, list(side.tasks.values()), "duration", top=top, filters=f)
        for row, side, f in zip(rows, (side_a, side_b), scoped, strict=True)
    ]
    return VersionComparison(
        process_id=process_id,
        a=rows[0].version,
        b=rows[1].version,
        notes=(rows[0].note or "", rows[1].note or ""),
        figures=_figures(side_a, side_b, least),
        heatmaps=(maps[0], maps[1]),
        minimum=least,
        engagements=(side_a.engagements, side_b.engagements),
    )


__all__ = [
    "SECTIONS",
    "TOO_FEW",
    "UNCLEAR",
    "Comparison",
    "VersionComparison",
    "compare_versions",
    "latest_two",
]
