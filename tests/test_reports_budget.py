"""Budget burn, servicing cost as a share of budget, and client growth, from the instance facts.

Acme has two engagements:

- "Summer launch" walks the history of `tests/test_reports.py`: a budget of 20,000, 12,000
  booked by production, effort 3 h AM (285) + 3.5 h PM (297.5) = 582.5 GBP; then the client
  approves and the growth review raises three upsell opportunities (30,000 open, 4,000 won,
  2,500 lost).
- "Retail cut-downs": a budget of 10,000, production books 9,500, past 90% of the budget,
  so a change order opens; effort 1 h AM on the estimate (95) + 2 h PM on production (170).
  Approving 4,000 more lifts the budget to 14,000 (9,500 is then within 90%).

Initech's pitch is lost: no budget, so no budget line.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.facts import fact_names
from engine.models import WorkflowInstance
from tests.api_support import make_app
from tests.conftest import FakeClock
from tests.test_cli import Baton, err, ok
from tests.test_reports import TEAM, WALK, _open, _start
from tests.test_reports_pages import charts_of
from tests.test_reports_pages import logged_in as reports_client
from workflows.agency import AM_LANE, PM_LANE
from workflows.demo import samples as S
from workflows.engagements.effort import log_effort
from workflows.engagements.lifecycle import get_engagement
from workflows.engagements.tasks import complete_task
from workflows.reports.budget import budget_report, growth_report
from workflows.reports.process import ReportFilter
from workflows.reports.registry import report_rows
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
UPSELLS = [
    {"title": "Summer blend launch", "estimated_value": 30000, "status": "open"},
    {"title": "Always-on social", "estimated_value": 4000, "status": "won"},
    {"title": "Podcast series", "estimated_value": 2500, "status": "lost"},
]
RETAIL: list[tuple[str, dict[str, Any]]] = [
    ("pitch_prepare", S.pitch_prepare()),
    ("pitch_outcome", S.pitch_outcome("won")),
    ("scope_estimate", S.scope_estimate(10000)),
    ("scope_signoff", S.scope_signoff("approved")),
    ("brief_write", S.brief_write()),
    ("brief_approve", S.brief_approve("approved")),
    ("timeline_plan", S.timeline_plan()),
    ("resourcing_plan", S.resourcing_plan(False)),
    ("production", S.production(9500)),
]


def _walk(services: Services, engagement_id: int, steps: list[tuple[str, dict[str, Any]]]) -> None:
    for step, data in steps:
        task = _open(services, engagement_id, step)
        assert task.lane is not None
        with services.db.unit_of_work() as session:
            complete_task(session, services, engagement_id, task.task_id, data, actor=TEAM[task.lane])
            if step == "scope_estimate":
                log_effort(session, services, engagement_id, task.task_id, 1, actor="ana")
            elif step == "production":
                log_effort(session, services, engagement_id, task.task_id, 2, actor="pete")


def _facts(services: Services, engagement_id: int) -> dict[str, Any]:
    with services.db.unit_of_work(write=False) as session:
        instance_id = get_engagement(session, engagement_id).instance_id
        facts = session.scalar(select(WorkflowInstance.facts).where(WorkflowInstance.id == instance_id))
    assert facts is not None
    return facts


@pytest.fixture
def agency(deployed: Services, clock: FakeClock) -> dict[str, int]:
    """The engagements of the module docstring; the change order is left open."""
    summer = _start(deployed, "Acme", "Summer launch")
    retail = _start(deployed, "Acme", "Retail cut-downs")
    lost = _start(deployed, "Initech", "Spring pitch")
    # Summer launch: the walk and effort of test_reports, then delivered and reviewed
    for step, data, when in WALK:
        clock.now = when
        task = _open(deployed, summer, step)
        assert task.lane is not None
        with deployed.db.unit_of_work() as session:
            complete_task(session, deployed, summer, task.task_id, data, actor=TEAM[task.lane])
            hours = {"pitch_prepare": 3.0, "production": 1.0, "qc_check": 0.75}.get(step)
            if hours is not None:
                log_effort(session, deployed, summer, task.task_id, hours, actor=TEAM[task.lane])
    clock.now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    for step, data in [
        ("client_feedback", S.client_feedback("approved")),
        ("process_review", S.process_review()),
        ("growth_review", S.growth_review(upsell_opportunities=UPSELLS)),
    ]:
        task = _open(deployed, summer, step)
        assert task.lane is not None
        with deployed.db.unit_of_work() as session:
            complete_task(session, deployed, summer, task.task_id, data, actor=TEAM[task.lane])
    _walk(deployed, retail, RETAIL)
    for step, data in [("pitch_prepare", S.pitch_prepare()), ("pitch_outcome", S.pitch_outcome("lost"))]:
        task = _open(deployed, lost, step)
        with deployed.db.unit_of_work() as session:
            complete_task(session, deployed, lost, task.task_id, data, actor="ana")
    return {"summer": summer, "retail": retail, "lost": lost}


def test_the_definitions_name_their_facts_at_process_level() -> None:
    engagement = (ROOT / "definitions" / "engagement.bpmn").read_text()
    assert fact_names(engagement, "engagement") == (
        "budget",
        "cost_to_date",
        "additional_budget",
        "budget_alert_ratio",
        "upsell_opportunities",
        "supplier_cost",
        "change_orders_agreed",
        "budget_added",
        "assignments",
        "milestones",
        "hours_by_role",
    )
    assert fact_names((ROOT / "definitions" / "fast_track.bpmn").read_text(), "fast_track") == (
        "budget",
        "cost_to_date",
    )
    assert fact_names(engagement, "another_process") == ()


def test_each_step_keeps_the_current_values_of_the_facts(deployed: Services, clock: FakeClock) -> None:
    engagement = _start(deployed, "Acme", "Rebrand")
    # the options script sets the alert ratio and zeroes the running totals as the instance starts
    zero = {"supplier_cost": 0, "change_orders_agreed": 0, "budget_added": 0}
    assert _facts(deployed, engagement) == {"budget_alert_ratio": 0.9, **zero}
    _walk(deployed, engagement, RETAIL[:3])
    estimate = {"hours_by_role": S.scope_estimate()["hours_by_role"]}
    assert _facts(deployed, engagement) == {"budget_alert_ratio": 0.9, **zero, "budget": 10000, **estimate}
    _walk(deployed, engagement, RETAIL[3:])
    planned = {
        "assignments": S.resourcing_plan()["assignments"],
        "milestones": S.timeline_plan()["milestones"],
        **estimate,
    }
    assert _facts(deployed, engagement) == {
        "budget_alert_ratio": 0.9,
        **zero,
        "budget": 10000,
        "cost_to_date": 9500,
        **planned,
    }
    task = _open(deployed, engagement, "change_order")
    with deployed.db.unit_of_work() as session:
        complete_task(
            session, deployed, engagement, task.task_id, S.change_order("approved", 4000), actor="ana"
        )
    # the script apply_change_order raised the budget in the same step, and counted the order
    assert _facts(deployed, engagement) == {
        "budget_alert_ratio": 0.9,
        "budget": 14000,
        "cost_to_date": 9500,
        "additional_budget": 4000,
        "supplier_cost": 0,
        "change_orders_agreed": 1,
        "budget_added": 4000,
        **planned,
    }


def test_booked_suppliers_and_agreed_change_orders_show_in_the_budget(
    deployed: Services, clock: FakeClock
) -> None:
    engagement = _start(deployed, "Acme", "Launch film")
    steps = [
        *RETAIL[:7],
        ("resourcing_plan", S.resourcing_plan(True)),
        ("supplier_booking", S.supplier_booking()),
    ]
    _walk(deployed, engagement, [*steps, ("production", S.production(9500))])
    task = _open(deployed, engagement, "change_order")
    with deployed.db.unit_of_work() as session:
        data = S.change_order("approved", 3000)
        complete_task(session, deployed, engagement, task.task_id, data, actor="ana")
    with deployed.db.unit_of_work(write=False) as session:
        (line,) = budget_report(session, deployed)
        rows = report_rows(session, deployed, "budget", ReportFilter()).rows
    # Brightframe Films 4,500 + Soundbox 600; one change order agreed, adding 3,000
    assert (line.supplier_cost, line.change_orders, line.budget_added, line.budget) == (5100, 1, 3000, 13000)
    assert (rows[0]["supplier_cost"], rows[0]["change_orders"], rows[0]["budget_added"]) == (5100, 1, 3000)


def test_burn_counts_effort_and_suppliers_when_the_pm_booked_nothing(
    deployed: Services, clock: FakeClock
) -> None:
    # started Tue 1 Dec 10:00; the PM books a cost to date of 0 in production, but 5,100 of
    # suppliers are agreed and 1 h AM (95) + 2 h PM (170) = 265 of effort is logged
    engagement = _start(deployed, "Acme", "Launch film")
    steps = [
        *RETAIL[:7],
        ("resourcing_plan", S.resourcing_plan(True)),
        ("supplier_booking", S.supplier_booking()),
        ("production", S.production(0)),
    ]
    _walk(deployed, engagement, steps)
    ten_days_on = datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
    with deployed.db.unit_of_work(write=False) as session:
        (line,) = budget_report(session, deployed, now=ten_days_on)
        clock.now = ten_days_on
        (row,) = report_rows(session, deployed, "budget", ReportFilter()).rows
    assert (line.effort_cost, line.supplier_cost, line.other_cost) == (265.0, 5100.0, 0.0)
    assert (line.spend, line.budget) == (5365.0, 10000.0)
    assert line.burn == pytest.approx(0.5365)  # not 0 %: effort and suppliers are spend
    # 5,365 in 10 days is 536.5 a day; the 4,635 left lasts 8.64 days more: Sun 20 Dec
    assert line.forecast_overrun == date(2026, 12, 20)
    assert (row["spend"], row["burn"], row["forecast_overrun"]) == (5365.0, 0.5365, "2026-12-20")
    assert (row["original_budget"], row["budget_added"], row["budget"]) == (10000.0, 0.0, 10000.0)


def test_budget_burn_per_engagement_flags_the_one_past_its_alert_ratio(
    deployed: Services, agency: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        lines = {line.key: line for line in budget_report(session, deployed)}
    summer = lines[f"{agency['summer']} Summer launch"]
    assert (summer.budget, summer.cost_to_date, summer.burn) == (20000, 12000, 0.6)
    assert (summer.effort_cost, summer.lane_costs) == (582.5, {AM_LANE: 285.0, PM_LANE: 297.5})
    assert summer.effort_share == pytest.approx(582.5 / 20000)
    assert summer.servicing_share == pytest.approx(285 / 20000)
    assert summer.management_share == pytest.approx(297.5 / 20000)
    assert (summer.over_threshold, summer.currency) == (0, "GBP")
    retail = lines[f"{agency['retail']} Retail cut-downs"]
    # 9,500 > 90% of 10,000: the change order's own test
    assert (retail.budget, retail.cost_to_date, retail.burn, retail.over_threshold) == (10000, 9500, 0.95, 1)
    assert retail.lane_costs == {AM_LANE: 95.0, PM_LANE: 170.0}
    assert len(lines) == 2  # Initech's lost pitch has no budget


def test_budget_per_client_adds_up_its_engagements_and_follows_a_change_order(
    deployed: Services, agency: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        (acme,) = budget_report(session, deployed, by="client")
    assert (acme.key, acme.engagements, acme.budget, acme.cost_to_date) == ("Acme", 2, 30000, 21500)
    assert (acme.effort_cost, acme.over_threshold) == (847.5, 1)
    assert acme.burn == pytest.approx(21500 / 30000)
    task = _open(deployed, agency["retail"], "change_order")
    with deployed.db.unit_of_work() as session:
        complete_task(
            session, deployed, agency["retail"], task.task_id, S.change_order("approved", 4000), actor="ana"
        )
    with deployed.db.unit_of_work(write=False) as session:
        (acme,) = budget_report(session, deployed, by="client")
        retail = budget_report(session, deployed, ReportFilter(client="Acme"))[1]
        before = budget_report(session, deployed, ReportFilter(end=datetime(2026, 12, 1, 10, 0, tzinfo=UTC)))
    assert (acme.budget, acme.over_threshold) == (34000, 0)  # 9,500 is within 90% of 14,000
    assert (retail.key, retail.budget) == (f"{agency['retail']} Retail cut-downs", 14000)
    assert before == []  # every engagement started at 10:00


def test_growth_counts_upsell_opportunities_per_client(deployed: Services, agency: dict[str, int]) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        (acme,) = growth_report(session)
        nobody = growth_report(session, ReportFilter(client="Initech"))
    assert (acme.key, acme.engagements, acme.raised) == ("Acme", 1, 3)
    assert acme.counts == {"open": 1, "won": 1, "lost": 1}
    assert acme.values == {"open": 30000.0, "won": 4000.0, "lost": 2500.0}
    assert acme.win_rate == 0.5
    assert nobody == []


def test_growth_per_account_manager_follows_the_engagement_team(
    deployed: Services, agency: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        (ana,) = growth_report(session, by="account_manager")
        with pytest.raises(ValueError, match="unknown dimension"):
            growth_report(session, by="lane")
    # ana is the AM of the team every engagement here started with
    assert (ana.key, ana.raised, ana.counts["won"], ana.values["won"]) == ("ana", 3, 1, 4000.0)


def test_the_cli_prints_budget_growth_and_workload(
    deployed: Services, agency: dict[str, int], database_url: str
) -> None:
    baton = Baton(database_url, user="lee")  # leadership reads the reports
    clients = json.loads(ok(baton("report", "budget", "--by", "client", "--format", "json")))
    assert clients == [
        {
            "key": "Acme",
            "engagements": 2,
            "original_budget": 30000.0,
            "change_orders": 0,
            "budget_added": 0.0,
            "budget": 30000.0,
            "effort_cost": 847.5,
            "supplier_cost": 0.0,
            "other_cost": 21500.0 - 847.5,  # the PM's 21,500 covers the effort, and this beyond it
            "spend": 21500.0,
            "burn": round(21500 / 30000, 4),
            "cost_to_date": 21500.0,
            "effort_share": round(847.5 / 30000, 4),
            "servicing_share": round(380 / 30000, 4),
            "management_share": round(467.5 / 30000, 4),
            "over_threshold": 1,
            "overrun": 0,
            "forecast_overrun": clients[0]["forecast_overrun"],
            "currency": "GBP",
        }
    ]
    table = ok(baton("report", "budget"))
    assert f"past the budget alert ratio: {agency['retail']} Retail cut-downs" in table
    (growth,) = csv.DictReader(io.StringIO(ok(baton("report", "growth", "--format", "csv"))))
    assert (growth["key"], growth["raised"], growth["won_value"], growth["win_rate"]) == (
        "Acme",
        "3",
        "4000.0",
        "0.5",
    )
    per_am = json.loads(ok(baton("report", "growth", "--by", "account_manager", "--format", "json")))
    assert [(r["key"], r["raised"]) for r in per_am] == [("ana", 3)]
    workload = {r["key"]: r for r in json.loads(ok(baton("report", "workload", "--format", "json")))}
    assert workload[f"ana / {AM_LANE}"]["capacity_hours"] == 30.0
    bad = baton("report", "budget", "--by", "stage")
    assert bad.exit_code == 1 and "budget groups by engagement or client" in err(bad)


def test_leadership_reads_client_growth_on_its_page_and_exports_it(
    deployed: Services, agency: dict[str, int], database_url: str
) -> None:
    app = make_app(deployed, database_url)
    lee = reports_client(app, deployed, "lee")
    html = lee.get("/reports/growth?by=account_manager").get_data(as_text=True)
    chart = charts_of(html)["growth"]
    assert chart["labels"] == ["ana"]
    values = {s["label"]: s["data"] for s in chart["datasets"]}
    assert values == {"won": [4000.0], "open": [30000.0], "lost": [2500.0]}
    exported = lee.get("/api/v1/reports/growth?by=client&format=csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    (acme,) = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert (acme["key"], acme["raised"], acme["won_value"]) == ("Acme", "3", "4000.0")
