"""The cost of client servicing: effort hours priced at a rate card, per engagement, client,
lane or stage.

Effort logged in a lane is priced at the hourly rate of the lane's role (``definitions/rates.toml``).
Hours are summed in SQL; only the multiplication by the rate happens here.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import HumanTask
from workflows.agency import LANE_ROLES
from workflows.models import Effort, Engagement
from workflows.reports.process import EVERYTHING, UNSET, ReportFilter, engagement_instances
from workflows.reports.rows import (
    AM,
    GREY,
    LANE_COLOURS,
    Chart,
    ReportDescriptor,
    ReportRows,
    Row,
    chart,
    series,
)
from workflows.services import Services

COST_DIMENSIONS = ("engagement", "client", "lane", "stage")


@dataclass(frozen=True)
class RateCard:
    """Hourly rate per role, in one currency; lanes take their role's rate."""

    currency: str
    rates: dict[str, float]  # role -> hourly rate
    default: float | None = None  # for lanes without a rated role

    def rate_for_lane(self, lane: str | None) -> float:
        """The hourly rate of a lane's role.

        Raises:
            ValueError: the lane's role has no rate and there is no default.
        """
        role = LANE_ROLES.get(lane or "")
        if role is not None and role in self.rates:
            return self.rates[role]
        if self.default is not None:
            return self.default
        raise ValueError(f"no rate for lane '{lane}' (role {role}): add it to the rate card or set a default")


def load_rates(path: str | Path) -> RateCard:
    """Read the rate card from a TOML file (see ``definitions/rates.toml``).

    Raises:
        ValueError: the file has no currency, or a rate is not a positive number.
    """
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    section = raw.get("rates", {})
    currency = section.get("currency")
    if not isinstance(currency, str) or not currency:
        raise ValueError(f"{path}: the rate card needs a currency")
    roles = section.get("roles", {})
    rates: dict[str, float] = {}
    for role, value in roles.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{path}: the rate of '{role}' must be a number of at least 0")
        rates[role] = float(value)
    default = section.get("default")
    if default is not None and (isinstance(default, bool) or not isinstance(default, int | float)):
        raise ValueError(f"{path}: the default rate must be a number")
    return RateCard(currency, rates, None if default is None else float(default))


def rate_card(services: Services) -> RateCard:
    """The agency's rate card: ``rates.toml`` in the definitions folder."""
    return load_rates(services.definitions_dir / "rates.toml")


@dataclass(frozen=True)
class CostLine:
    """Hours and their cost for one engagement (client, lane, stage)."""

    key: str
    hours: float
    cost: float
    currency: str


def _day(moment: datetime | None, services: Services) -> date | None:
    return None if moment is None else moment.astimezone(services.calendar.zone).date()


def cost_report(
    session: Session,
    services: Services,
    filters: ReportFilter = EVERYTHING,
    *,
    by: str = "lane",
    rates: RateCard | None = None,
) -> list[CostLine]:
    """What the logged effort cost, per engagement, client, lane or stage: hours x the lane's rate.

    The period applies to the day worked (the agency calendar's date of `start` and `end`).

    Args:
        session: the unit of work.
        services: Baton's services.
        filters: period, definition, client.
        by: ``engagement``, ``client``, ``lane`` or ``stage``.
        rates: the rate card (default: the definitions folder's ``rates.toml``).
    """
    card = rates or rate_card(services)
    columns: dict[str, Any] = {
        "engagement": Engagement.name,
        "client": Engagement.client,
        "lane": Effort.lane,
        "stage": Effort.stage,
    }
    if by not in columns:
        raise ValueError(f"unknown dimension '{by}' (expected one of {', '.join(COST_DIMENSIONS)})")
    key = columns[by]
    group = [Engagement.id, key] if by == "engagement" else [key]
    query = (
        select(*group, Effort.lane, func.sum(Effort.hours))
        .join(Engagement, Engagement.id == Effort.engagement_id)
        .group_by(*group, Effort.lane)
    )
    instances = engagement_instances(filters)
    if instances is not None:
        query = query.where(Effort.instance_id.in_(instances))
    start, end = _day(filters.start, services), _day(filters.end, services)
    if start is not None:
        query = query.where(Effort.worked_on >= start)
    if end is not None:
        query = query.where(Effort.worked_on < end)
    hours: dict[str, float] = defaultdict(float)
    cost: dict[str, float] = defaultdict(float)
    for row in session.execute(query):
        *names, lane, total = row
        label = f"{names[0]} {names[1]}" if by == "engagement" else (names[0] or UNSET)
        hours[label] += float(total)
        cost[label] += float(total) * card.rate_for_lane(lane)
    return [CostLine(k, hours[k], round(cost[k], 2), card.currency) for k in sorted(hours)]


def rework_cost(
    session: Session, services: Services, filters: ReportFilter = EVERYTHING, *, rates: RateCard | None = None
) -> list[CostLine]:
    """What rework cost per engagement: effort logged on the second and later runs of a step
    (a brief rewritten, production redone after a failed QC), priced like `cost_report`.
    """
    card = rates or rate_card(services)
    query = (
        select(Engagement.id, Engagement.name, Effort.lane, func.sum(Effort.hours))
        .join(Engagement, Engagement.id == Effort.engagement_id)
        .join(
            HumanTask, (HumanTask.instance_id == Effort.instance_id) & (HumanTask.task_id == Effort.task_id)
        )
        .where(HumanTask.run > 1)
        .group_by(Engagement.id, Engagement.name, Effort.lane)
    )
    instances = engagement_instances(filters)
    if instances is not None:
        query = query.where(Effort.instance_id.in_(instances))
    start, end = _day(filters.start, services), _day(filters.end, services)
    if start is not None:
        query = query.where(Effort.worked_on >= start)
    if end is not None:
        query = query.where(Effort.worked_on < end)
    hours: dict[str, float] = defaultdict(float)
    cost: dict[str, float] = defaultdict(float)
    for engagement_id, name, lane, total in session.execute(query):
        label = f"{engagement_id} {name}"
        hours[label] += float(total)
        cost[label] += float(total) * card.rate_for_lane(lane)
    return [CostLine(k, hours[k], round(cost[k], 2), card.currency) for k in sorted(hours)]


# -- as a report: its rows and charts --------------------------------------------------


def _cost(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    rows = [
        {"key": c.key, "hours": c.hours, "cost": c.cost, "currency": c.currency}
        for c in cost_report(session, services, filters, by=by)
    ]
    return ReportRows("cost", by, rows)


def _cost_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    by_lane: str | list[str] = [LANE_COLOURS.get(k, GREY) for k in keys] if report.by == "lane" else AM
    currency = str(rows[0]["currency"])
    return [
        chart(
            "cost",
            f"Effort cost per {report.by} ({currency})",
            keys,
            [series(f"cost ({currency})", [r["cost"] for r in rows], by_lane)],
        )
    ]


COST_REPORT = ReportDescriptor(
    name="cost",
    title="Cost",
    blurb="Logged effort at the rate card: client servicing (AM) against delivery (PM).",
    order=40,
    groupings=("lane", *(d for d in COST_DIMENSIONS if d != "lane")),
    build=_cost,
    charts=_cost_charts,
)


DESCRIPTORS = (COST_REPORT,)
