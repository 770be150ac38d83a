"""Agency economics from the instance facts: budget burn, servicing cost as a share of budget,
and the upsell opportunities raised in growth reviews.

The budget, the cost booked to date, the alert ratio and the upsell opportunities are workflow
variables; the engine keeps their current values in ``workflow_instance.facts`` (the definitions
name them in their ``facts`` property), so these reports read them with SQL like every other
report and never load a workflow. Effort is priced at the rate card as in `report_costs`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, literal, select
from sqlalchemy.orm import Session

from engine.models import WorkflowInstance
from workflows.agency import ACCOUNT_MANAGER, AM_LANE, LANE_ROLES, PM_LANE
from workflows.models import Effort, Engagement, TeamMember, User
from workflows.reports.costs import RateCard, rate_card
from workflows.reports.process import EVERYTHING, UNSET, ReportFilter, engagement_instances
from workflows.reports.rows import (
    AM,
    CLIENT,
    GREY,
    PM,
    Chart,
    ReportDescriptor,
    ReportRows,
    Row,
    chart,
    highlighted,
    ratio,
    series,
)
from workflows.services import Services

BUDGET_DIMENSIONS = ("engagement", "client")
GROWTH_DIMENSIONS = ("client", "account_manager")
DEFAULT_ALERT_RATIO = 0.9  # the engagement definition's default budget_alert_ratio
UPSELL_STATUSES = ("open", "won", "lost")

_FACTS = WorkflowInstance.facts
BUDGET = _FACTS["budget"].as_float()
COST_TO_DATE = _FACTS["cost_to_date"].as_float()
SUPPLIER_COST = _FACTS["supplier_cost"].as_float()  # booked suppliers' agreed costs
BUDGET_ADDED = _FACTS["budget_added"].as_float()  # by change orders the client agreed
CHANGE_ORDERS = _FACTS["change_orders_agreed"].as_float()
ALERT_RATIO = func.coalesce(_FACTS["budget_alert_ratio"].as_float(), DEFAULT_ALERT_RATIO)


def _engagements(filters: ReportFilter) -> Select[Any]:
    """Engagements the filter keeps, started in its period, joined to their instance."""
    query = select(Engagement).join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
    instances = engagement_instances(filters)
    if instances is not None:
        query = query.where(Engagement.instance_id.in_(instances))
    if filters.start is not None:
        query = query.where(Engagement.created_at >= filters.start)
    if filters.end is not None:
        query = query.where(Engagement.created_at < filters.end)
    return query


# -- budget burn ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    """Budget, spend and effort of one engagement (or all of a client's).

    Spend is made of three parts, shown apart: the effort logged at the rate card, the agreed
    costs of the suppliers booked, and the other costs recorded -- what the PM's booked cost to
    date (which covers time and suppliers) holds beyond those two. The budget is the current
    one: the original plus what agreed change orders added.
    """

    key: str
    engagements: int
    budget: float  # the original budget plus the change orders agreed
    cost_to_date: float  # as the PM booked it in production (time and suppliers)
    effort_cost: float  # logged hours x the rate card
    lane_costs: dict[str, float]  # lane -> effort cost (AM: client servicing, PM: project management)
    over_threshold: int  # engagements whose spend passed their alert ratio of the budget
    currency: str
    supplier_cost: float = 0.0  # agreed with the suppliers booked
    change_orders: int = 0  # change orders the client agreed
    budget_added: float = 0.0  # what those change orders added to the budget
    other_cost: float = 0.0  # recorded beyond effort and suppliers (see the class docstring)
    forecast_overrun: date | None = None  # when spend at its pace so far reaches the budget
    overrun: int = 0  # engagements already past their budget

    @property
    def original_budget(self) -> float:
        """The budget before any change order."""
        return self.budget - self.budget_added

    @property
    def spend(self) -> float:
        """Effort at the rate card + suppliers + other recorded costs."""
        return self.effort_cost + self.supplier_cost + self.other_cost

    @property
    def burn(self) -> float | None:
        """Spend as a share of the budget with its change orders (None: no budget)."""
        return self.spend / self.budget if self.budget else None

    @property
    def effort_share(self) -> float | None:
        """Effort cost as a share of the budget (None: no budget)."""
        return self.effort_cost / self.budget if self.budget else None

    def lane_share(self, lane: str) -> float | None:
        """One lane's effort cost as a share of the budget (None: no budget)."""
        return self.lane_costs.get(lane, 0.0) / self.budget if self.budget else None

    @property
    def servicing_share(self) -> float | None:
        """Client-servicing (Account Management) effort cost as a share of the budget."""
        return self.lane_share(AM_LANE)

    @property
    def management_share(self) -> float | None:
        """Project-management effort cost as a share of the budget."""
        return self.lane_share(PM_LANE)


@dataclass(frozen=True)
class _Spent:
    """One engagement's budget figures, as the query returns them."""

    key: str
    client: str
    running: bool
    started: datetime
    budget: float
    cost_to_date: float
    ratio: float
    effort: float
    lanes: dict[str, float]
    suppliers: float
    orders: int
    added: float

    @property
    def other(self) -> float:
        return max(0.0, self.cost_to_date - self.effort - self.suppliers)

    @property
    def spend(self) -> float:
        return self.effort + self.suppliers + self.other

    def overrun_on(self, now: datetime, zone: Any) -> date | None:
        """The day spend reaches the budget at its average daily pace since the start (None: it
        is finished, has spent nothing, or is already over)."""
        if not self.running or self.spend <= 0 or self.spend >= self.budget:
            return None
        days = max((now - self.started).total_seconds() / 86400, 1.0)
        left = (self.budget - self.spend) / (self.spend / days)
        return (now + timedelta(days=left)).astimezone(zone).date()


def budget_report(
    session: Session,
    services: Services,
    filters: ReportFilter = EVERYTHING,
    *,
    by: str = "engagement",
    rates: RateCard | None = None,
    now: datetime | None = None,
) -> list[BudgetLine]:
    """Budget burn per engagement or client: spend (effort at the rate card, suppliers, other
    recorded costs, each apart) against the budget with its agreed change orders, the servicing
    and management shares of the budget, how many engagements passed their alert ratio
    (``spend > budget x budget_alert_ratio``) or the budget itself, and the forecast day a
    running engagement's spend reaches its budget at its pace so far (per client: the soonest).

    Only engagements with a budget count (a lost pitch has none). The period applies to when
    the engagement started; its effort counts whenever it was worked.

    Args:
        session: the unit of work.
        services: Baton's services (the rate card's folder, the clock, the calendar's zone).
        filters: period (engagement started), definition, client.
        by: ``engagement`` or ``client``.
        rates: the rate card (default: the definitions folder's ``rates.toml``).
        now: the moment forecasts start from (default: the runtime's clock).
    """
    if by not in BUDGET_DIMENSIONS:
        raise ValueError(f"unknown dimension '{by}' (expected one of {', '.join(BUDGET_DIMENSIONS)})")
    card = rates or rate_card(services)
    moment = now or services.runtime.clock()
    scope = _engagements(filters).where(BUDGET.is_not(None))
    # effort priced in SQL: one row per engagement, the rate card as a CASE on the lane
    rated = {lane: card.rates[role] for lane, role in LANE_ROLES.items() if role in card.rates}
    rate = case(rated, value=Effort.lane, else_=card.default) if rated else literal(card.default)
    priced = (
        select(
            Effort.engagement_id.label("engagement_id"),
            func.sum(Effort.hours * rate).label("cost"),
            *(
                func.sum(case((Effort.lane == lane, Effort.hours * rate), else_=0)).label(lane)
                for lane in rated
            ),
            func.sum(case((rate.is_(None), 1), else_=0)).label("unrated"),
        )
        .group_by(Effort.engagement_id)
        .subquery()
    )
    rows = session.execute(
        scope.outerjoin(priced, priced.c.engagement_id == Engagement.id)
        .with_only_columns(
            Engagement.id,
            Engagement.name,
            Engagement.client,
            WorkflowInstance.status,
            WorkflowInstance.started_at,
            BUDGET,
            func.coalesce(COST_TO_DATE, 0),
            ALERT_RATIO,
            func.coalesce(priced.c.cost, 0),
            *(func.coalesce(priced.c[lane], 0) for lane in rated),
            func.coalesce(priced.c.unrated, 0),
            func.coalesce(SUPPLIER_COST, 0),
            func.coalesce(CHANGE_ORDERS, 0),
            func.coalesce(BUDGET_ADDED, 0),
        )
        .order_by(Engagement.id)
    )
    groups: dict[str, list[_Spent]] = defaultdict(list)
    for row in rows:
        eid, name, client, status, started, budget, cost, alert, effort, *rest = row
        lane_sums, (unrated, suppliers, orders, added) = rest[: len(rated)], rest[len(rated) :]
        if unrated:
            raise ValueError(
                "effort logged in a lane without a rate: add it to the rate card or set a default"
            )
        spent = _Spent(
            f"{eid} {name}",
            client or UNSET,
            status == "running",
            started,
            float(budget or 0),
            float(cost or 0),
            float(alert),
            round(float(effort or 0), 2),
            {lane: round(float(v), 2) for lane, v in zip(rated, lane_sums, strict=True) if v},
            float(suppliers or 0),
            int(orders or 0),
            float(added or 0),
        )
        groups[spent.key if by == "engagement" else spent.client].append(spent)
    zone = services.calendar.zone
    lines = []
    for key, members in groups.items():
        lanes: dict[str, float] = defaultdict(float)
        for m in members:
            for lane, value in m.lanes.items():
                lanes[lane] += value
        forecasts = [d for m in members if (d := m.overrun_on(moment, zone)) is not None]
        lines.append(
            BudgetLine(
                key=key,
                engagements=len(members),
                budget=sum(m.budget for m in members),
                cost_to_date=sum(m.cost_to_date for m in members),
                effort_cost=round(sum(m.effort for m in members), 2),
                lane_costs={lane: round(v, 2) for lane, v in lanes.items()},
                over_threshold=sum(1 for m in members if m.spend > m.budget * m.ratio),
                currency=card.currency,
                supplier_cost=sum(m.suppliers for m in members),
                change_orders=sum(m.orders for m in members),
                budget_added=sum(m.added for m in members),
                other_cost=round(sum(m.other for m in members), 2),
                forecast_overrun=min(forecasts, default=None),
                overrun=sum(1 for m in members if m.spend > m.budget),
            )
        )
    return sorted(lines, key=lambda line: line.key)


def _key(names: list[Any]) -> str:
    return f"{names[0]} {names[1]}" if len(names) == 2 else str(names[0] or UNSET)


# -- client growth --------------------------------------------------------------------------------


@dataclass
class GrowthLine:
    """Upsell opportunities raised in the growth reviews of one client (or account manager):
    how many and their value."""

    key: str  # the client, or the account manager's username
    engagements: int = 0  # engagements that had a growth review
    counts: dict[str, int] = field(default_factory=dict)  # status -> opportunities
    values: dict[str, float] = field(default_factory=dict)  # status -> estimated value

    @property
    def raised(self) -> int:
        """Opportunities raised, whatever their status."""
        return sum(self.counts.values())

    @property
    def win_rate(self) -> float | None:
        """Share of decided opportunities (won or lost) that were won (None: none decided)."""
        decided = self.counts.get("won", 0) + self.counts.get("lost", 0)
        return self.counts.get("won", 0) / decided if decided else None


def growth_report(
    session: Session, filters: ReportFilter = EVERYTHING, *, by: str = "client"
) -> list[GrowthLine]:
    """Upsell opportunities per client or per account manager (the engagement's AM now) from the
    growth reviews: raised, open, won and lost, with their estimated values.

    One row per engagement comes from SQL (its ``upsell_opportunities`` fact); the few items of
    each list are added up here, because JSON arrays unnest differently on every database.
    The period applies to when the engagement started.
    """
    if by not in GROWTH_DIMENSIONS:
        raise ValueError(f"unknown dimension '{by}' (expected one of {', '.join(GROWTH_DIMENSIONS)})")
    upsell = _FACTS["upsell_opportunities"]
    query = _engagements(filters).where(upsell.is_not(None))
    if by == "client":
        query = query.with_only_columns(Engagement.client, upsell)
    else:
        query = (
            query.outerjoin(
                TeamMember,
                (TeamMember.engagement_id == Engagement.id) & (TeamMember.role == ACCOUNT_MANAGER),
            )
            .outerjoin(User, User.id == TeamMember.user_id)
            .with_only_columns(User.username, upsell)
        )
    lines: dict[str, GrowthLine] = {}
    for key, items in session.execute(query):
        if not isinstance(items, list):
            continue  # a JSON null
        line = lines.setdefault(key or UNSET, GrowthLine(key or UNSET))
        line.engagements += 1
        for item in items:
            if not isinstance(item, dict):
                continue
            status = str(item.get("status") or UNSET)
            line.counts[status] = line.counts.get(status, 0) + 1
            value = item.get("estimated_value")
            if isinstance(value, int | float) and not isinstance(value, bool):
                line.values[status] = line.values.get(status, 0.0) + float(value)
    return [lines[c] for c in sorted(lines)]


# -- as a report: its rows and charts --------------------------------------------------


def _budget(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    lines = budget_report(session, services, filters, by=by)
    rows = [
        {
            "key": b.key,
            "engagements": b.engagements,
            "original_budget": b.original_budget,
            "change_orders": b.change_orders,
            "budget_added": b.budget_added,
            "budget": b.budget,
            "effort_cost": b.effort_cost,
            "supplier_cost": b.supplier_cost,
            "other_cost": b.other_cost,
            "spend": round(b.spend, 2),
            "burn": ratio(b.burn),
            "cost_to_date": b.cost_to_date,
            "effort_share": ratio(b.effort_share),
            "servicing_share": ratio(b.servicing_share),
            "management_share": ratio(b.management_share),
            "over_threshold": b.over_threshold,
            "overrun": b.overrun,
            "forecast_overrun": b.forecast_overrun.isoformat() if b.forecast_overrun else None,
            "currency": b.currency,
        }
        for b in lines
    ]
    over = [b.key for b in lines if b.over_threshold]
    return ReportRows("budget", by, rows, f"past the budget alert ratio: {', '.join(over) or 'none'}", over)


def _budget_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    return [
        chart(
            "budget",
            f"Budget burn per {report.by}",
            keys,
            [
                series(
                    "spend / budget",
                    [None if r["burn"] is None else round(r["burn"] * 100, 1) for r in rows],
                    highlighted(keys, report, AM),
                ),
                series(
                    "client servicing (AM)",
                    [
                        None if r["servicing_share"] is None else round(r["servicing_share"] * 100, 1)
                        for r in rows
                    ],
                    CLIENT,
                ),
                series(
                    "project management (PM)",
                    [
                        None if r["management_share"] is None else round(r["management_share"] * 100, 1)
                        for r in rows
                    ],
                    PM,
                ),
            ],
            percent=True,
            horizontal=True,
        )
    ]


BUDGET_REPORT = ReportDescriptor(
    name="budget",
    title="Budget burn",
    blurb="Spend (effort, suppliers, other costs) against budget and change orders, and when it overruns.",
    order=70,
    groupings=BUDGET_DIMENSIONS,
    build=_budget,
    charts=_budget_charts,
    definition=(
        "Spend = effort logged x the rate card (rates.toml) + the agreed costs of the suppliers booked + "
        "other recorded costs (what the PM's booked cost to date, which covers time and suppliers, holds "
        "beyond those two); burn = spend / budget, the budget being the original plus the change orders "
        "the client agreed. Forecast overrun: the day a running engagement's spend reaches its budget at "
        "its average daily pace since it started (per client: the soonest). Servicing and management "
        "shares: AM and PM effort at the rate card / budget."
    ),
)


def _growth(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    rows = [
        {
            "key": g.key,
            "engagements": g.engagements,
            "raised": g.raised,
            **{status: g.counts.get(status, 0) for status in ("open", "won", "lost")},
            **{f"{status}_value": g.values.get(status, 0.0) for status in ("open", "won", "lost")},
            "win_rate": ratio(g.win_rate),
        }
        for g in growth_report(session, filters, by=by)
    ]
    return ReportRows("growth", by, rows)


def _growth_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    return [
        chart(
            "growth",
            f"Upsell value per {report.by}",
            keys,
            [
                series("won", [r["won_value"] for r in rows], PM),
                series("open", [r["open_value"] for r in rows], AM),
                series("lost", [r["lost_value"] for r in rows], GREY),
            ],
            stacked=True,
        )
    ]


GROWTH_REPORT = ReportDescriptor(
    name="growth",
    title="Client growth",
    blurb="Upsell opportunities raised and won per client or account manager.",
    order=80,
    groupings=GROWTH_DIMENSIONS,
    build=_growth,
    charts=_growth_charts,
)


DESCRIPTORS = (BUDGET_REPORT, GROWTH_REPORT,)
