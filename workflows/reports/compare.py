"""Before and after a definition change: the same figures for two versions of a process.

Each figure is computed twice, once per version (`ReportFilter.definition_id`), by the report
functions: time per stage (median, p90, total business hours), SLA compliance, rework rounds,
effort cost per engagement, mean duration and breach rate per task. The change is B minus A;
whether it is better depends on the figure (fewer hours, more deadlines kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.models import DefinitionVersion, HumanTask
from workflows.agency import STAGES
from workflows.people.permissions import READ_REPORTS, authorize
from workflows.reports.costs import cost_report
from workflows.reports.heatmap import (
    ElementFigures,
    Heatmap,
    element_figures,
    human_tasks_of,
    painted,
    resolve_version,
)
from workflows.reports.process import (
    ReportFilter,
    engagement_instances,
    rework_report,
    sla_report,
    time_report,
)
from workflows.services import Services

LOWER, HIGHER, NEUTRAL = "lower", "higher", "neutral"  # which way is better
SECTIONS = ("summary", "time per stage", "SLA per stage", "time per task")
# a change smaller than this is no change (hours and shares are rounded for the page anyway)
EPSILON = 1e-6


@dataclass(frozen=True)
class Comparison:
    """One figure for versions A and B."""

    section: str
    key: str  # what it is about: a stage, a task, or the whole version
    measure: str  # e.g. "median hours", "compliance"
    a: float | None
    b: float | None
    better: str = LOWER  # LOWER, HIGHER or NEUTRAL
    unit: str = ""  # "h", "%" (a share 0-1), a currency, or "" (a count)

    @property
    def delta(self) -> float | None:
        """B minus A (None when either is missing)."""
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def change(self) -> str:
        """``better``, ``worse``, ``same``, or ``-`` (not comparable, or neither way is better)."""
        delta = self.delta
        if delta is None or self.better == NEUTRAL:
            return "-"
        if abs(delta) < EPSILON:
            return "same"
        return "better" if (delta < 0) == (self.better == LOWER) else "worse"

    def as_row(self) -> dict[str, Any]:
        """One flat row (JSON, CSV, the page's tables)."""
        digits = 4 if self.unit == "%" else 2
        return {
            "section": self.section,
            "key": self.key,
            "measure": self.measure,
            "unit": self.unit,
            "a": None if self.a is None else round(self.a, digits),
            "b": None if self.b is None else round(self.b, digits),
            "delta": None if self.delta is None else round(self.delta, digits),
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

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every figure as a flat row."""
        return [f.as_row() for f in self.figures]


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


@dataclass(frozen=True)
class _Side:
    """The figures of one version."""

    engagements: int
    stages: dict[str, Any]  # stage -> StageTime
    slas: dict[str, Any]  # stage -> SlaCompliance
    compliance: float | None  # over every task with a deadline
    rework_rounds: int
    cost: float
    currency: str
    tasks: dict[str, ElementFigures]

    def per_engagement(self, value: float) -> float | None:
        return value / self.engagements if self.engagements else None


def _engagement_count(session: Session, filters: ReportFilter) -> int:
    """Engagements of the filter that had a task created in its period."""
    query = select(func.count(func.distinct(HumanTask.instance_id)))
    instances = engagement_instances(filters)
    if instances is not None:
        query = query.where(HumanTask.instance_id.in_(instances))
    if filters.start is not None:
        query = query.where(HumanTask.created_at >= filters.start)
    if filters.end is not None:
        query = query.where(HumanTask.created_at < filters.end)
    return int(session.scalar(query) or 0)


def _side(session: Session, services: Services, filters: ReportFilter, row: DefinitionVersion) -> _Side:
    stages = {r.key: r for r in time_report(session, filters, by="stage").rows}
    slas = {r.key: r for r in sla_report(session, filters, by="stage")}
    done = sum(s.completed for s in slas.values())
    costs = cost_report(session, services, filters, by="lane")
    figures = element_figures(session, services, filters, human_tasks_of(row.bpmn_xml))
    return _Side(
        engagements=_engagement_count(session, filters),
        stages=stages,
        slas=slas,
        compliance=sum(s.on_time for s in slas.values()) / done if done else None,
        rework_rounds=rework_report(session, filters, most=0).rounds,
        cost=sum(c.cost for c in costs),
        currency=costs[0].currency if costs else "",
        tasks={f.bpmn_id: f for f in figures},
    )


def _in_order(keys: set[str]) -> list[str]:
    known = [s for s in STAGES if s in keys]
    return known + sorted(keys - set(known))


def _figures(a: _Side, b: _Side) -> list[Comparison]:
    hours_a = sum(s.total_hours for s in a.stages.values())
    hours_b = sum(s.total_hours for s in b.stages.values())
    currency = a.currency or b.currency
    out = [
        Comparison("summary", "engagements", "count", a.engagements, b.engagements, NEUTRAL),
        Comparison(
            "summary",
            "business hours",
            "per engagement",
            a.per_engagement(hours_a),
            b.per_engagement(hours_b),
            unit="h",
        ),
        Comparison("summary", "SLA compliance", "share on time", a.compliance, b.compliance, HIGHER, "%"),
        Comparison(
            "summary",
            "rework rounds",
            "per engagement",
            a.per_engagement(a.rework_rounds),
            b.per_engagement(b.rework_rounds),
        ),
        Comparison(
            "summary",
            "effort cost",
            "per engagement",
            a.per_engagement(a.cost),
            b.per_engagement(b.cost),
            unit=currency,
        ),
    ]
    for stage in _in_order(set(a.stages) | set(b.stages)):
        sa, sb = a.stages.get(stage), b.stages.get(stage)
        if not ((sa and sa.completed) or (sb and sb.completed)):
            continue  # only open tasks on either side: nothing to compare yet
        for measure, attr in (
            ("median hours", "median_hours"),
            ("p90 hours", "p90_hours"),
            ("total hours", "total_hours"),
        ):
            out.append(
                Comparison(
                    "time per stage",
                    stage,
                    measure,
                    getattr(sa, attr) if sa and sa.completed else None,
                    getattr(sb, attr) if sb and sb.completed else None,
                    unit="h",
                )
            )
    for stage in _in_order(set(a.slas) | set(b.slas)):
        la, lb = a.slas.get(stage), b.slas.get(stage)
        if not ((la and la.completed) or (lb and lb.completed)):
            continue
        out.append(
            Comparison(
                "SLA per stage",
                stage,
                "share on time",
                la.compliance if la else None,
                lb.compliance if lb else None,
                HIGHER,
                "%",
            )
        )
    for bpmn_id in list(dict.fromkeys([*a.tasks, *b.tasks])):
        ta, tb = a.tasks.get(bpmn_id), b.tasks.get(bpmn_id)
        either = tb or ta
        label = either.name if either else bpmn_id
        if not ((ta and (ta.completed or ta.judged)) or (tb and (tb.completed or tb.judged))):
            continue  # neither version ran it
        out.append(
            Comparison(
                "time per task",
                f"{label} ({bpmn_id})",
                "mean hours",
                ta.mean_hours if ta else None,
                tb.mean_hours if tb else None,
                unit="h",
            )
        )
        out.append(
            Comparison(
                "time per task",
                f"{label} ({bpmn_id})",
                "breach rate",
                ta.breach_rate if ta else None,
                tb.breach_rate if tb else None,
                unit="%",
            )
        )
    return out


def compare_versions(
    session: Session,
    services: Services,
    process_id: str,
    a: int | None = None,
    b: int | None = None,
    *,
    filters: ReportFilter | None = None,
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
        actor: who asks: leadership, an ops lead or an admin.

    Raises:
        PermissionDenied: the actor may not read reports.
        NotFoundError: no such process or version.
    """
    authorize(session, actor, READ_REPORTS)
    default_a, default_b = latest_two(session, process_id)
    rows = (
        resolve_version(session, services, process_id, default_a if a is None else a),
        resolve_version(session, services, process_id, default_b if b is None else b),
    )
    base = filters or ReportFilter()
    scoped = [ReportFilter(base.start, base.end, process_id, base.client, row.id) for row in rows]
    side_a, side_b = (_side(session, services, f, row) for f, row in zip(scoped, rows, strict=True))
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
        figures=_figures(side_a, side_b),
        heatmaps=(maps[0], maps[1]),
    )


__all__ = ["SECTIONS", "Comparison", "VersionComparison", "compare_versions", "latest_two"]
