"""Forecasts: when a running engagement should be delivered, and how far off past forecasts were.

A forecast reads its version's history: the finished engagements on the same definition version.
For the running engagement's earliest open step (where it is furthest behind), each finished
engagement that went through that step (the same run of it, else its first) tells how many
business hours it still took from the moment that step was readied to its end: the business-time
durations of the steps still ahead, as they really went, parallel branches and client waits
included. Their 10th, 50th and 90th percentiles, added on the agency calendar to the moment the
open step was readied, give the range (P10-P90) and the expected delivery (P50). With fewer than
`MINIMUM_HISTORY` such engagements the forecast says "not enough history" instead.

The accuracy report replays that at every step readied of every finished engagement, using only
the engagements that had finished by then, and compares with when it really ended.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import HumanTask, WorkflowInstance
from workflows.models import Engagement
from workflows.reports.process import ReportFilter, engagement_instances, percentile
from workflows.reports.rows import AMBER, PM, Chart, ReportDescriptor, ReportRows, Row, chart, pct, series
from workflows.reports.steps import step_names
from workflows.services import Services
from workflows.time.calendar import BusinessTimeline

MINIMUM_HISTORY = 3  # finished engagements through the step before a forecast is given
NOT_ENOUGH = "not enough history"


@dataclass(frozen=True)
class Forecast:
    """A running engagement's expected delivery and its range, or why there is none."""

    engagement_id: int
    step: str | None  # the open step forecast from (BPMN id)
    since: datetime | None  # when that step was readied
    history: int  # finished engagements the forecast reads
    expected: datetime | None = None  # P50
    earliest: datetime | None = None  # P10
    latest: datetime | None = None  # P90
    hours: tuple[float, float, float] | None = None  # business hours left at P10, P50, P90

    @property
    def reason(self) -> str:
        """Empty when there is a forecast; else why not (e.g. "not enough history")."""
        if self.expected is not None:
            return ""
        if self.step is None:
            return "no open step"
        return (
            f"{NOT_ENOUGH} ({self.history} finished engagement(s) through this step, "
            f"{MINIMUM_HISTORY} needed)"
        )


@dataclass(frozen=True)
class _Finished:
    ended: datetime
    readied: dict[tuple[str, int], datetime]  # (step, run) -> when it was first readied


def _history(session: Session, definition_id: int) -> dict[int, _Finished]:
    """The finished engagements of a version: when each ended and when each step was readied."""
    finished = select(WorkflowInstance.id, WorkflowInstance.ended_at).where(
        WorkflowInstance.definition_id == definition_id,
        WorkflowInstance.status == "completed",
        WorkflowInstance.ended_at.is_not(None),
    )
    ended = {instance_id: at for instance_id, at in session.execute(finished)}
    readied: dict[int, dict[tuple[str, int], datetime]] = defaultdict(dict)
    if ended:
        rows = session.execute(
            select(HumanTask.instance_id, HumanTask.bpmn_id, HumanTask.run, HumanTask.created_at)
            .where(HumanTask.instance_id.in_(list(ended)))
            .order_by(HumanTask.created_at, HumanTask.id)
        )
        for instance_id, bpmn_id, run, created in rows:
            readied[instance_id].setdefault((bpmn_id, run or 1), created)
    return {i: _Finished(e, readied[i]) for i, e in ended.items() if e is not None}


def _remaining(
    history: dict[int, _Finished], timeline: BusinessTimeline, step: str, run: int, before: datetime | None
) -> list[float]:
    """Business hours each finished engagement took from readying `step` (run `run`) to its end."""
    left = []
    for done in history.values():
        if before is not None and done.ended >= before:
            continue  # not finished yet at the moment the forecast is made
        start = done.readied.get((step, run)) or done.readied.get((step, 1))
        if start is not None:
            left.append(timeline.between(start, done.ended))
    return left


def _spread(left: list[float]) -> tuple[float, float, float]:
    return (percentile(left, 0.1), percentile(left, 0.5), percentile(left, 0.9))


def forecast_engagement(
    session: Session,
    services: Services,
    engagement_id: int,
    histories: dict[int, dict[int, _Finished]] | None = None,
) -> Forecast:
    """The expected delivery of one engagement, from its version's history.

    Args:
        session: the unit of work's session.
        services: the services (the agency calendar).
        engagement_id: the engagement.
        histories: version -> its history, kept between calls (the board forecasts many rows).

    Raises:
        NoResultFound: no such engagement.
    """
    instance = session.scalars(
        select(WorkflowInstance)
        .join(Engagement, Engagement.instance_id == WorkflowInstance.id)
        .where(Engagement.id == engagement_id)
    ).one()
    if instance.status != "running":
        return Forecast(engagement_id, None, None, 0)
    task = session.scalars(
        select(HumanTask)
        .where(HumanTask.instance_id == instance.id, HumanTask.state == "ready")
        .order_by(HumanTask.created_at, HumanTask.id)
        .limit(1)
    ).first()
    if task is None:
        return Forecast(engagement_id, None, None, 0)
    version = task.definition_id or instance.definition_id
    timeline = BusinessTimeline(services.calendar)
    cache = {} if histories is None else histories
    if version not in cache:
        cache[version] = _history(session, version)
    left = _remaining(cache[version], timeline, task.bpmn_id, task.run or 1, None)
    if len(left) < MINIMUM_HISTORY:
        return Forecast(engagement_id, task.bpmn_id, task.created_at, len(left))
    low, mid, high = _spread(left)
    calendar = services.calendar
    return Forecast(
        engagement_id,
        task.bpmn_id,
        task.created_at,
        len(left),
        expected=calendar.add_hours(task.created_at, mid),
        earliest=calendar.add_hours(task.created_at, low),
        latest=calendar.add_hours(task.created_at, high),
        hours=(round(low, 2), round(mid, 2), round(high, 2)),
    )


def forecast_engagements(
    session: Session, services: Services, engagement_ids: list[int]
) -> dict[int, Forecast]:
    """`forecast_engagement` for each of several engagements (the board's rows)."""
    histories: dict[int, dict[int, _Finished]] = {}
    return {e: forecast_engagement(session, services, e, histories) for e in engagement_ids}


# -- the accuracy report ---------------------------------------------------------------------------


def _accuracy(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    timeline = BusinessTimeline(services.calendar)
    instances = engagement_instances(filters)
    query = select(WorkflowInstance.id, WorkflowInstance.definition_id).where(
        WorkflowInstance.status == "completed"
    )
    if instances is not None:
        query = query.where(WorkflowInstance.id.in_(instances))
    versions: dict[int, list[int]] = defaultdict(list)
    for instance_id, definition_id in session.execute(query):
        versions[definition_id].append(instance_id)
    errors: dict[str, list[float]] = defaultdict(list)
    within: dict[str, int] = defaultdict(int)
    for definition_id, finished in versions.items():
        history = _history(session, definition_id)
        for instance_id in finished:
            done = history.get(instance_id)
            if done is None or not _in_period(done.ended, filters):
                continue
            others = {i: h for i, h in history.items() if i != instance_id}
            for (step, run), moment in done.readied.items():
                left = _remaining(others, timeline, step, run, moment)
                if len(left) < MINIMUM_HISTORY:
                    continue
                low, mid, high = _spread(left)
                actual = timeline.between(moment, done.ended)
                errors[step].append(abs(actual - mid))
                within[step] += low <= actual <= high
    names = step_names(session)
    rows: list[Row] = [
        {
            "key": step,
            "step": names.get(step, step),
            "forecasts": len(errs),
            "mean_abs_error_hours": round(sum(errs) / len(errs), 2),
            "within_range": round(within[step] / len(errs), 4),
        }
        for step, errs in sorted(errors.items())
    ]
    made = sum(r["forecasts"] for r in rows)
    inside = sum(within.values())
    note = (
        f"{made} past forecast(s); the actual delivery fell within P10-P90 in {pct(inside / made)}"
        if made
        else f"no past forecast could be made yet ({NOT_ENOUGH}: {MINIMUM_HISTORY} engagements "
        "finished before the point forecast from are needed)"
    )
    return ReportRows("forecast_accuracy", None, rows, note)


def _in_period(ended: datetime, filters: ReportFilter) -> bool:
    return (filters.start is None or ended >= filters.start) and (filters.end is None or ended < filters.end)


def _accuracy_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    return [
        chart(
            "forecast-error",
            "Mean error of the expected delivery (business hours), by the step forecast from",
            [r["step"] for r in rows],
            [series("mean abs error (h)", [r["mean_abs_error_hours"] for r in rows], AMBER)],
        ),
        chart(
            "forecast-within",
            "Share delivered within the forecast range (P10-P90)",
            [r["step"] for r in rows],
            [series("within range", [round(r["within_range"] * 100, 1) for r in rows], PM)],
            percent=True,
        ),
    ]


ACCURACY_REPORT = ReportDescriptor(
    name="forecast_accuracy",
    title="Forecast accuracy",
    blurb="How far delivery forecasts made at each step were from when finished engagements really ended.",
    order=96,
    groupings=None,
    build=_accuracy,
    charts=_accuracy_charts,
    definition=(
        "For every step readied of every finished engagement, the forecast that would have been made "
        "then: the P10, P50 and P90 of the business hours the engagements of its version that had "
        "already finished took from that step to their end (at least "
        f"{MINIMUM_HISTORY}). Error: |actual - P50| business hours; within range: P10 <= actual <= P90. "
        "The period keeps engagements that finished in it."
    ),
)

DESCRIPTORS = (ACCURACY_REPORT,)
