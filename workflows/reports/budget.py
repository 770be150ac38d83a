"""Agency economics from the instance facts: budget burn, servicing cost as a share of budget,
and the upsell opportunities raised in growth reviews.

The budget, the cost booked to date, the alert ratio and the upsell opportunities are workflow
variables; the engine keeps their current values in ``workflow_instance.facts`` (the definitions
name them in their ``facts`` property), so these reports read them with SQL like every other
report and never load a workflow. Effort is priced at the rate card as in `report_costs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """Budget, cost and effort of one engagement (or all of a client's)."""

    key: str
    engagements: int
    budget: float
    cost_to_date: float  # as booked in production (time and suppliers)
    effort_cost: float  # logged hours x the rate card
    lane_costs: dict[str, float]  # lane -> effort cost (AM: client servicing, PM: project management)
    over_threshold: int  # engagements whose cost passed their alert ratio of the budget
    currency: str
    supplier_cost: float = 0.0  # agreed with the suppliers booked (part of the cost to date)
    change_orders: int = 0  # change orders the client agreed
    budget_added: float = 0.0  # what those change orders added to the budget

    @property
    def burn(self) -> float | None:
        """Cost to date as a share of the budget (None: no budget)."""
        return self.cost_to_date / self.budget if self.budget else None

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


def budget_report(
    session: Session,
    services: Services,
    filters: ReportFilter = EVERYTHING,
    *,
    by: str = "engagement",
    rates: RateCard | None = None,
) -> list[BudgetLine]:
    """Budget burn per engagement or client: budget, cost to date, burn, effort cost (all of it
    and per lane) as a share of the budget, and how many engagements passed their alert ratio
    (``cost_to_date > budget x budget_alert_ratio``, the definition's own change-order test).

    Only engagements with a budget count (a lost pitch has none). The period applies to when
    the engagement started; its effort counts whenever it was worked.

    Args:
        session: the unit of work.
        services: Baton's services (the rate card's folder).
        filters: period (engagement started), definition, client.
        by: ``engagement`` or ``client``.
        rates: the rate card (default: the definitions folder's ``rates.toml``).
    """
    if by not in BUDGET_DIMENSIONS:
        raise ValueError(f"unknown dimension '{by}' (expected one of {', '.join(BUDGET_DIMENSIONS)})")
    card = rates or rate_card(services)
    keys = [Engagement.id, Engagement.name] if by == "engagement" else [Engagement.client]
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
    over = case((func.coalesce(COST_TO_DATE, 0) > BUDGET * ALERT_RATIO, 1), else_=0)
    totals = (
        scope.outerjoin(priced, priced.c.engagement_id == Engagement.id)
        .with_only_columns(
            *keys,
            func.count(),
            func.sum(BUDGET),
            func.sum(func.coalesce(COST_TO_DATE, 0)),
            func.sum(over),
            func.sum(priced.c.cost),
            *(func.sum(priced.c[lane]) for lane in rated),
            func.sum(priced.c.unrated),
            func.sum(func.coalesce(SUPPLIER_COST, 0)),
            func.sum(func.coalesce(CHANGE_ORDERS, 0)),
            func.sum(func.coalesce(BUDGET_ADDED, 0)),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
    lines = []
    for row in session.execute(totals):
        names, (count, budget, cost, n_over, effort, *lane_sums, unrated, suppliers, orders, added) = (
            row[: len(keys)],
            row[len(keys) :],
        )
        if unrated:
            raise ValueError(
                "effort logged in a lane without a rate: add it to the rate card or set a default"
            )
        lines.append(
            BudgetLine(
                key=_key(list(names)),
                engagements=int(count),
                budget=float(budget or 0),
                cost_to_date=float(cost or 0),
                effort_cost=round(float(effort or 0), 2),
                lane_costs={lane: round(float(v), 2) for lane, v in zip(rated, lane_sums, strict=True) if v},
                over_threshold=int(n_over or 0),
                currency=card.currency,
                supplier_cost=float(suppliers or 0),
                change_orders=int(orders or 0),
                budget_added=float(added or 0),
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
            "budget": b.budget,
            "cost_to_date": b.cost_to_date,
            "supplier_cost": b.supplier_cost,
            "burn": ratio(b.burn),
            "effort_cost": b.effort_cost,
            "effort_share": ratio(b.effort_share),
            "servicing_share": ratio(b.servicing_share),
            "management_share": ratio(b.management_share),
            "over_threshold": b.over_threshold,
            "change_orders": b.change_orders,
            "budget_added": b.budget_added,
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
                    "cost to date / budget",
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
    blurb="Cost to date against budget, and the share servicing and management take.",
    order=70,
    groupings=BUDGET_DIMENSIONS,
    build=_budget,
    charts=_budget_charts,
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
