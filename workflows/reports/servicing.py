"""The servicing statement: what account management (AM) and project management (PM) cost, in
money, per engagement or per client, what that time bought, and how it stands against the share
of the budget allotted to servicing.

What servicing bought, each counted from the projections (no workflow is loaded):

* check-ins held: the AM's client touchpoints completed -- steps that wait on the client (their
  deadline runs on the client's clock: sign-offs, feedback), chases and growth reviews;
* feedback rounds: client feedback steps completed, and how many asked for changes;
* change requests handled: change-order steps completed, and the value the agreed ones added;
* change orders won: those the client agreed (the ``change_orders_agreed`` fact);
* QC rounds caught: quality checks that failed, so the client never saw that round;
* hand-off latency: mean business hours from a step of one lane readying a step of the other to
  that step being picked up.

The allotted share is the scope estimate's AM and PM hours (the ``hours_by_role`` fact) at the
rate card over the budget, else ``[servicing] budget_share`` of ``rates.toml``. The internal
statement adds the margin: the allotted money less what servicing cost. The client's leaves it out.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from engine.models import Event, HumanTask, WorkflowInstance
from workflows.agency import ACCOUNT_MANAGER, AM_LANE, PM_LANE, PROJECT_MANAGER
from workflows.models import Effort, Engagement
from workflows.people.permissions import READ_REPORTS, authorize
from workflows.reports.costs import RateCard, rate_card
from workflows.reports.process import EVERYTHING, UNSET, ReportFilter, engagement_instances
from workflows.reports.rows import (
    AM,
    PM,
    Chart,
    ReportDescriptor,
    ReportRows,
    Row,
    chart,
    ratio,
    series,
)
from workflows.services import Services
from workflows.time.clocks import CLIENT_CLOCK

SERVICING_DIMENSIONS = ("engagement", "client")
DEFAULT_BUDGET_SHARE = 0.15
CHECK_IN_STEPS = ("chase_client", "growth_review")  # AM touchpoints not on the client's clock
FEEDBACK_STEP, CHANGE_STEP, QC_STEP = "client_feedback", "change_order", "qc_check"
_FACTS = WorkflowInstance.facts


@dataclass
class ServicingLine:
    """The servicing of one engagement (or of all of a client's)."""

    key: str
    client: str
    engagements: int = 0
    currency: str = ""
    budget: float = 0.0
    am_hours: float = 0.0
    am_cost: float = 0.0
    pm_hours: float = 0.0
    pm_cost: float = 0.0
    allotted: float = 0.0  # money the budget set aside for AM and PM
    check_ins: int = 0
    feedback_rounds: int = 0
    changes_asked: int = 0  # feedback rounds that asked for changes
    change_requests: int = 0
    change_orders_won: int = 0
    change_value: float = 0.0  # what the agreed change orders added to the budget
    qc_caught: int = 0
    handoffs: int = 0
    handoff_hours: float = 0.0  # summed: the mean is handoff_hours / handoffs
    ids: list[int] = field(default_factory=list)  # the engagements it covers

    @property
    def cost(self) -> float:
        """AM and PM together."""
        return self.am_cost + self.pm_cost

    @property
    def share(self) -> float | None:
        """What servicing cost as a share of the budget (None: no budget)."""
        return self.cost / self.budget if self.budget else None

    @property
    def allotted_share(self) -> float | None:
        """The share of the budget allotted to servicing (None: no budget)."""
        return self.allotted / self.budget if self.budget else None

    @property
    def margin(self) -> float:
        """Allotted less spent: what is left of servicing's allotment (negative: over it)."""
        return self.allotted - self.cost

    @property
    def handoff_latency(self) -> float | None:
        """Mean business hours a hand-off waited to be picked up (None: none yet)."""
        return self.handoff_hours / self.handoffs if self.handoffs else None


def budget_share(services: Services) -> float:
    """``[servicing] budget_share`` of the rate card file: the share of a budget allotted to
    servicing when the scope estimate gives no AM and PM hours.

    Raises:
        ValueError: the share is not a number between 0 and 1.
    """
    with open(services.definitions_dir / "rates.toml", "rb") as fh:
        section = tomllib.load(fh).get("servicing") or {}
    value = section.get("budget_share", DEFAULT_BUDGET_SHARE)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError("rates.toml: [servicing] budget_share must be a number from 0 to 1")
    return float(value)


def _counts(session: Session, instances: Any) -> dict[int, dict[str, int]]:
    """Per instance: check-ins, feedback rounds, changes asked, change requests, QC caught."""
    done = HumanTask.state == "completed"
    check_in = (HumanTask.lane == AM_LANE) & (
        (HumanTask.sla_clock == CLIENT_CLOCK) | HumanTask.bpmn_id.in_(CHECK_IN_STEPS)
    )
    query = (
        select(
            HumanTask.instance_id,
            func.sum(case((done & check_in, 1), else_=0)),
            func.sum(case((done & (HumanTask.bpmn_id == FEEDBACK_STEP), 1), else_=0)),
            func.sum(case((done & (HumanTask.bpmn_id == CHANGE_STEP), 1), else_=0)),
        )
        .where(HumanTask.instance_id.in_(instances))
        .group_by(HumanTask.instance_id)
    )
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for instance, check_ins, feedback, changes in session.execute(query):
        out[instance].update(
            check_ins=int(check_ins or 0), feedback=int(feedback or 0), changes=int(changes or 0)
        )
    decisions = (
        select(Event.instance_id, Event.bpmn_id, Event.decision, func.count())
        .where(
            Event.kind == "task_completed",
            Event.decision.in_(("changes_requested", "fail")),
            Event.bpmn_id.in_((FEEDBACK_STEP, QC_STEP)),
            Event.instance_id.in_(instances),
        )
        .group_by(Event.instance_id, Event.bpmn_id, Event.decision)
    )
    for instance, step, decision, n in session.execute(decisions):
        key = "asked" if step == FEEDBACK_STEP and decision == "changes_requested" else "caught"
        if step == QC_STEP and decision != "fail":
            continue
        out[instance][key] += int(n)
    return out


def _handoffs(session: Session, instances: Any) -> dict[int, tuple[int, float]]:
    """Per instance: hand-offs between lanes picked up, and their pickup hours summed."""
    giver, taker = aliased(HumanTask), aliased(HumanTask)
    query = (
        select(giver.instance_id, func.count(), func.sum(taker.pickup_hours))
        .join(
            taker,
            (taker.instance_id == giver.instance_id)
            & (taker.created_at == giver.completed_at)
            & (taker.lane != giver.lane),
        )
        .where(taker.pickup_hours.is_not(None), giver.instance_id.in_(instances))
        .group_by(giver.instance_id)
    )
    return {i: (int(n), float(h or 0.0)) for i, n, h in session.execute(query)}


def servicing_report(
    session: Session,
    services: Services,
    filters: ReportFilter = EVERYTHING,
    *,
    by: str = "engagement",
    rates: RateCard | None = None,
    engagement_id: int | None = None,
) -> list[ServicingLine]:
    """The servicing statement's lines, per engagement or per client (see the module docstring).

    Only engagements with a budget count. The period applies to when the engagement started.

    Args:
        session: the unit of work.
        services: Baton's services (the rate card's folder).
        filters: period (engagement started), definition, client.
        by: ``engagement`` or ``client``.
        rates: the rate card (default: the definitions folder's ``rates.toml``).
        engagement_id: only this engagement.
    """
    if by not in SERVICING_DIMENSIONS:
        raise ValueError(f"unknown dimension '{by}' (expected one of {', '.join(SERVICING_DIMENSIONS)})")
    card = rates or rate_card(services)
    default_share = budget_share(services)
    am_rate, pm_rate = card.rate_for_lane(AM_LANE), card.rate_for_lane(PM_LANE)
    budget = _FACTS["budget"].as_float()
    query = (
        select(
            Engagement.id,
            Engagement.name,
            Engagement.client,
            Engagement.instance_id,
            budget,
            func.coalesce(_FACTS["change_orders_agreed"].as_float(), 0),
            func.coalesce(_FACTS["budget_added"].as_float(), 0),
            _FACTS["hours_by_role"],
        )
        .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
        .where(budget.is_not(None))
        .order_by(Engagement.id)
    )
    instances_filter = engagement_instances(filters)
    if instances_filter is not None:
        query = query.where(Engagement.instance_id.in_(instances_filter))
    if filters.start is not None:
        query = query.where(Engagement.created_at >= filters.start)
    if filters.end is not None:
        query = query.where(Engagement.created_at < filters.end)
    if engagement_id is not None:
        query = query.where(Engagement.id == engagement_id)
    found = session.execute(query).all()
    if not found:
        return []
    # the statement's instances as a subquery: a literal list of thousands of ids costs more
    instances: Any = query.with_only_columns(Engagement.instance_id).order_by(None).scalar_subquery()
    if engagement_id is not None or len(found) <= 500:
        instances = [row[3] for row in found]
    effort = (
        select(Effort.instance_id, Effort.lane, func.sum(Effort.hours))
        .where(Effort.instance_id.in_(instances), Effort.lane.in_((AM_LANE, PM_LANE)))
        .group_by(Effort.instance_id, Effort.lane)
    )
    hours: dict[tuple[int, str], float] = {
        (i, lane or UNSET): float(h) for i, lane, h in session.execute(effort)
    }
    counts = _counts(session, instances)
    handoffs = _handoffs(session, instances)
    lines: dict[str, ServicingLine] = {}
    for eid, name, client, instance, money, won, added, by_role in found:
        key = f"{eid} {name}" if by == "engagement" else (client or UNSET)
        line = lines.setdefault(key, ServicingLine(key, client or UNSET, currency=card.currency))
        am, pm = hours.get((instance, AM_LANE), 0.0), hours.get((instance, PM_LANE), 0.0)
        money = float(money or 0)
        line.engagements += 1
        line.ids.append(eid)
        line.budget += money
        line.am_hours += am
        line.pm_hours += pm
        line.am_cost += am * am_rate
        line.pm_cost += pm * pm_rate
        line.allotted += _allotted(by_role, money, am_rate, pm_rate, default_share)
        c = counts.get(instance, {})
        line.check_ins += c.get("check_ins", 0)
        line.feedback_rounds += c.get("feedback", 0)
        line.changes_asked += c.get("asked", 0)
        line.change_requests += c.get("changes", 0)
        line.qc_caught += c.get("caught", 0)
        line.change_orders_won += int(won or 0)
        line.change_value += float(added or 0)
        n, total = handoffs.get(instance, (0, 0.0))
        line.handoffs += n
        line.handoff_hours += total
    return [lines[k] for k in sorted(lines)]


def _allotted(by_role: Any, budget: float, am_rate: float, pm_rate: float, default_share: float) -> float:
    """Money the estimate set aside for AM and PM: its hours at the rate card, else the default
    share of the budget."""
    if isinstance(by_role, dict):
        am, pm = by_role.get(ACCOUNT_MANAGER), by_role.get(PROJECT_MANAGER)
        if isinstance(am, int | float) or isinstance(pm, int | float):
            return float(am or 0) * am_rate + float(pm or 0) * pm_rate
    return budget * default_share


def servicing_statement(
    session: Session,
    services: Services,
    filters: ReportFilter = EVERYTHING,
    *,
    by: str = "engagement",
    engagement_id: int | None = None,
    actor: str,
) -> list[ServicingLine]:
    """`servicing_report` for `actor`, who must be in leadership, an ops lead or an admin (the
    statement a client is shown is printed by them).

    Raises:
        PermissionDenied: the actor may not read reports.
        ValueError: unknown dimension, or a bad ``[servicing]`` setting.
    """
    authorize(session, actor, READ_REPORTS)
    return servicing_report(session, services, filters, by=by, engagement_id=engagement_id)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def servicing_row(line: ServicingLine, *, internal: bool = True) -> Row:
    """One line as a flat row; the client's version leaves the margin out."""
    row: Row = {
        "key": line.key,
        "engagements": line.engagements,
        "am_hours": round(line.am_hours, 2),
        "am_cost": round(line.am_cost, 2),
        "pm_hours": round(line.pm_hours, 2),
        "pm_cost": round(line.pm_cost, 2),
        "servicing_cost": round(line.cost, 2),
        "budget": line.budget,
        "servicing_share": ratio(line.share),
        "allotted_share": ratio(line.allotted_share),
        "check_ins": line.check_ins,
        "feedback_rounds": line.feedback_rounds,
        "changes_asked": line.changes_asked,
        "change_requests": line.change_requests,
        "change_orders_won": line.change_orders_won,
        "change_value": line.change_value,
        "qc_caught": line.qc_caught,
        "handoff_latency_hours": _round(line.handoff_latency),
        "currency": line.currency,
    }
    if internal:
        row["allotted"] = round(line.allotted, 2)
        row["margin"] = round(line.margin, 2)
    return row


def _servicing(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    lines = servicing_report(session, services, filters, by=by)
    rows = [servicing_row(line) for line in lines]
    over = [line.key for line in lines if line.margin < 0]
    note = f"over servicing's allotment: {', '.join(over) or 'none'}"
    return ReportRows("servicing", by, rows, note, over)


def _servicing_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    return [
        chart(
            "servicing",
            f"Servicing cost per {report.by} ({rows[0]['currency']})",
            keys,
            [
                series("account management", [r["am_cost"] for r in rows], AM),
                series("project management", [r["pm_cost"] for r in rows], PM),
            ],
            stacked=True,
            horizontal=True,
        )
    ]


SERVICING_REPORT = ReportDescriptor(
    name="servicing",
    title="Servicing statement",
    blurb="What account and project management cost, what that time bought, against its allotment.",
    order=75,
    groupings=SERVICING_DIMENSIONS,
    build=_servicing,
    charts=_servicing_charts,
    definition=(
        "AM and PM cost = their logged hours x the rate card. Check-ins: the AM's completed client "
        "touchpoints (steps on the client's clock, chases, growth reviews); feedback rounds: client "
        "feedback steps (changes asked: those sending the work back); change requests: change-order "
        "steps, their value what the agreed ones added; QC caught: failed checks, rounds the client "
        "never saw; hand-off latency: mean business hours from one lane handing over to the other "
        "picking up. Allotted: the estimate's AM and PM hours at the rate card (else [servicing] "
        "budget_share of the budget); margin = allotted - cost."
    ),
)


DESCRIPTORS = (SERVICING_REPORT,)
