"""Process review reports on a seeded history whose figures are worked out by hand.

The clock starts on Tuesday 1 December 2026, 10:00 London time (GMT, so UTC); the agency
works 09:00-17:30 on weekdays. Acme's "Summer launch" walks the engagement with known gaps
between steps (hours of the working day):

    Tue 10:00 pitch_prepare    -> 12:00  2.0 bh   (AM, pitch)
        12:00 pitch_outcome    -> 13:00  1.0      (AM, pitch)
        13:00 scope_estimate   -> 14:00  1.0      (AM, scope)
        14:00 scope_signoff    -> Wed 10:00  3.5 + 1 = 4.5, on the client's clock (AM, scope)
    Wed 10:00 brief_write      -> 12:00  2.0      (PM, brief)
        12:00 brief_approve    -> 13:00  1.0  changes requested (AM, brief)
        13:00 brief_write      -> 14:00  1.0
        14:00 brief_approve    -> 15:00  1.0  approved
        15:00 timeline_plan    -> 16:00  1.0      (PM, timeline)
        16:00 resourcing_plan  -> 17:00  1.0      (PM, resourcing)
        17:00 production       -> Thu 11:00  0.5 + 2 = 2.5 (PM, production)
    Thu 11:00 qc_check         -> 12:00  1.0  fail (PM, qc; SLA 4bh)
        12:00 production       -> 14:00  2.0
        14:00 qc_check         -> Fri 10:30  3.5 + 1.5 = 5.0  pass, an hour late
    Fri 10:30 client_feedback  stays open (client's clock, 3bd)

Globex's pitch is started on the same Tuesday and never touched.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import HumanTask, WorkflowInstance
from tests.conftest import FakeClock
from tests.test_cli import Baton, err, ok
from workflows.agency import AM_LANE, PM_LANE
from workflows.definitions.catalog import deploy_file
from workflows.demo import samples as stories
from workflows.engagements.effort import log_effort
from workflows.engagements.lifecycle import get_engagement, start_engagement
from workflows.engagements.tasks import complete_task
from workflows.reports.costs import cost_report, load_rates, rework_cost
from workflows.reports.flow import handoff_report, throughput_report
from workflows.reports.process import (
    BusinessTimeline,
    ReportFilter,
    percentile,
    rework_report,
    sla_report,
    time_report,
)
from workflows.reports.registry import report_rows
from workflows.reports.workload import load_capacity, workload_report
from workflows.services import Services

TEAM = {AM_LANE: "ana", PM_LANE: "pete"}
S = stories

# (step, business-day wall time at which it is completed)
WALK: list[tuple[str, dict[str, Any], datetime]] = [
    ("pitch_prepare", S.pitch_prepare(), datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
    ("pitch_outcome", S.pitch_outcome("won"), datetime(2026, 12, 1, 13, 0, tzinfo=UTC)),
    ("scope_estimate", S.scope_estimate(20000), datetime(2026, 12, 1, 14, 0, tzinfo=UTC)),
    ("scope_signoff", S.scope_signoff("approved"), datetime(2026, 12, 2, 10, 0, tzinfo=UTC)),
    ("brief_write", S.brief_write(), datetime(2026, 12, 2, 12, 0, tzinfo=UTC)),
    (
        "brief_approve",
        S.brief_approve("changes_requested", "Sharper hook."),
        datetime(2026, 12, 2, 13, 0, tzinfo=UTC),
    ),
    ("brief_write", S.brief_write(), datetime(2026, 12, 2, 14, 0, tzinfo=UTC)),
    ("brief_approve", S.brief_approve("approved"), datetime(2026, 12, 2, 15, 0, tzinfo=UTC)),
    ("timeline_plan", S.timeline_plan(), datetime(2026, 12, 2, 16, 0, tzinfo=UTC)),
    ("resourcing_plan", S.resourcing_plan(False), datetime(2026, 12, 2, 17, 0, tzinfo=UTC)),
    ("production", S.production(12000), datetime(2026, 12, 3, 11, 0, tzinfo=UTC)),
    ("qc_check", S.qc_check("fail", "Fix the end card."), datetime(2026, 12, 3, 12, 0, tzinfo=UTC)),
    ("production", S.production(12000), datetime(2026, 12, 3, 14, 0, tzinfo=UTC)),
    ("qc_check", S.qc_check("pass"), datetime(2026, 12, 4, 10, 30, tzinfo=UTC)),
]


def _start(services: Services, client: str, name: str) -> int:
    with services.db.unit_of_work() as session:
        return start_engagement(
            session,
            services,
            client=client,
            name=name,
            actor="olga",
            account_manager="ana",
            project_manager="pete",
        ).id


def _open(services: Services, engagement_id: int, bpmn_id: str) -> HumanTask:
    with services.db.unit_of_work(write=False) as session:
        instance_id = get_engagement(session, engagement_id).instance_id
        return session.scalars(
            select(HumanTask).where(
                HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready"
            )
        ).one()


@pytest.fixture
def history(deployed: Services, clock: FakeClock) -> dict[str, int]:
    """Acme's engagement walked as the module docstring tells, Globex's pitch left open."""
    acme = _start(deployed, "Acme", "Summer launch")
    globex = _start(deployed, "Globex", "Winter pitch")
    for step, data, when in WALK:
        clock.now = when
        task = _open(deployed, acme, step)
        assert task.lane is not None
        with deployed.db.unit_of_work() as session:
            complete_task(session, deployed, acme, task.task_id, data, actor=TEAM[task.lane])
            if step == "pitch_prepare":
                log_effort(session, deployed, acme, task.task_id, 3, actor="ana")
            elif step == "production":
                log_effort(session, deployed, acme, task.task_id, 1, actor="pete")
            elif step == "qc_check":
                log_effort(session, deployed, acme, task.task_id, 0.75, actor="pete")
    return {"acme": acme, "globex": globex}


def _rows(report: Any) -> dict[str, Any]:
    return {r.key: r for r in report.rows}


def test_time_per_stage_gives_median_p90_and_the_bottleneck(
    deployed: Services, history: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        report = time_report(session, ReportFilter(client="Acme"))
    rows = _rows(report)
    assert rows["pitch"].completed == 2
    assert rows["pitch"].total_hours == pytest.approx(3.0)
    assert rows["pitch"].median_hours == pytest.approx(1.5)
    assert rows["pitch"].p90_hours == pytest.approx(1.9)  # 1 + 0.9 x (2 - 1)
    # the sign-off waited on the client: its 4.5 hours are the client's
    assert rows["scope"].total_hours == pytest.approx(5.5)
    assert rows["scope"].client_hours == pytest.approx(4.5)
    assert rows["scope"].agency_hours == pytest.approx(1.0)
    # four brief steps: 2, 1, 1, 1 -> median 1, p90 at rank 2.7 of [1, 1, 1, 2] = 1.7
    assert rows["brief"].completed == 4
    assert rows["brief"].median_hours == pytest.approx(1.0)
    assert rows["brief"].p90_hours == pytest.approx(1.7)
    assert rows["production"].total_hours == pytest.approx(4.5)
    assert rows["qc"].median_hours == pytest.approx(3.0)
    assert rows["qc"].p90_hours == pytest.approx(4.6)
    # 3 + 5.5 + 5 + 1 + 1 + 4.5 + 6 = 26 hours in all: QC's 6 are the largest share
    assert report.bottleneck == "qc"
    assert rows["qc"].share == pytest.approx(6 / 26)
    assert rows["feedback"].open_tasks == 1 and rows["feedback"].completed == 0
    assert report.longest_queue == "feedback"
    assert "pitch" in rows and rows["pitch"].open_tasks == 0  # Globex's open pitch is filtered out


def test_time_per_lane_and_for_everyone_counts_globex_queue(
    deployed: Services, history: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        lanes = _rows(time_report(session, by="lane"))
        stages = _rows(time_report(session))
    # AM: pitch 2 + 1, estimate 1, sign-off 4.5, two brief approvals 1 + 1 = 10.5; PM: the other 15.5
    assert lanes[AM_LANE].total_hours == pytest.approx(10.5)
    assert lanes[PM_LANE].total_hours == pytest.approx(15.5)
    assert lanes[AM_LANE].client_hours == pytest.approx(4.5)
    assert stages["pitch"].open_tasks == 1  # Globex's pitch_prepare


def test_a_period_keeps_only_the_tasks_created_in_it(deployed: Services, history: dict[str, int]) -> None:
    wednesday = ReportFilter(
        start=datetime(2026, 12, 2, tzinfo=UTC), end=datetime(2026, 12, 3, tzinfo=UTC), client="Acme"
    )
    with deployed.db.unit_of_work(write=False) as session:
        rows = _rows(time_report(session, wednesday))
    # created on Wednesday: the four brief steps, timeline, resourcing and the first production
    assert sorted(rows) == ["brief", "production", "resourcing", "timeline"]
    assert rows["production"].total_hours == pytest.approx(2.5)


def test_sla_compliance_per_stage_and_person(
    deployed: Services, history: dict[str, int], clock: FakeClock
) -> None:
    # client_feedback (3bd = 25.5 bh from Fri 10:30) is due Wed 9 Dec 10:30; a day later it is breached
    clock.now = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    deployed.deadline_sweeper().run_once()
    with deployed.db.unit_of_work(write=False) as session:
        stages = {r.key: r for r in sla_report(session, ReportFilter(client="Acme"))}
        people = {r.key: r for r in sla_report(session, ReportFilter(client="Acme"), by="person")}
    assert (stages["qc"].completed, stages["qc"].on_time) == (2, 1)  # the pass took 5 hours of a 4bh SLA
    assert stages["qc"].compliance == pytest.approx(0.5)
    assert stages["brief"].compliance == pytest.approx(1.0)
    # the open feedback step is past its deadline: a missed deadline now, so the stage is at 0 %
    assert (stages["feedback"].open_breached, stages["feedback"].compliance) == (1, 0.0)
    # pete did the PM lane's 8 tasks, one late; ana the AM lane's 6 on time, and holds the open feedback
    assert (people["pete"].completed, people["pete"].on_time) == (8, 7)
    assert (people["ana"].completed, people["ana"].on_time, people["ana"].open_breached) == (6, 6, 1)
    assert (people["ana"].judged, people["ana"].compliance) == (7, pytest.approx(6 / 7))  # not 100 %


def test_rework_counts_decisions_rounds_and_qc_failures(deployed: Services, history: dict[str, int]) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        report = rework_report(session)
    decisions = {d.step: d.counts for d in report.decisions}
    assert decisions["brief_approve"] == {"approved": 1, "changes_requested": 1}
    assert decisions["qc_check"] == {"fail": 1, "pass": 1}
    assert decisions["scope_signoff"] == {"approved": 1}
    assert (report.qc_checks, report.qc_failures, report.qc_fail_rate) == (2, 1, 0.5)
    (acme,) = report.engagements
    assert acme.engagement_id == history["acme"]
    assert acme.repeated == {"brief_approve": 1, "brief_write": 1, "production": 1, "qc_check": 1}
    assert acme.rounds == 4
    # per step, and in all: brief written and approved twice, produced and checked twice
    assert report.reruns == {"brief_approve": 1, "brief_write": 1, "production": 1, "qc_check": 1}
    assert (report.rounds, report.reworked) == (4, 1)
    with deployed.db.unit_of_work(write=False) as session:
        assert rework_report(session, most=0).engagements == []  # figures without the list


def test_servicing_cost_is_hours_times_the_lane_rate(deployed: Services, history: dict[str, int]) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        lanes = {c.key: c for c in cost_report(session, deployed)}
        stages = {c.key: c for c in cost_report(session, deployed, by="stage")}
        clients = {c.key: c for c in cost_report(session, deployed, by="client")}
    # definitions/rates.toml: AM 95, PM 85 GBP an hour
    assert (lanes[AM_LANE].hours, lanes[AM_LANE].cost) == (3.0, 285.0)
    # PM: two production hours and two QC checks of 0.75 = 3.5 hours x 85
    assert (lanes[PM_LANE].hours, lanes[PM_LANE].cost) == (3.5, 297.5)
    assert stages["qc"].cost == pytest.approx(127.5)
    assert clients["Acme"].cost == pytest.approx(582.5) and clients["Acme"].currency == "GBP"
    assert "Globex" not in clients


def test_rework_costs_the_effort_on_repeated_runs(deployed: Services, history: dict[str, int]) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        (acme,) = rework_cost(session, deployed)
    # the second production (1 h) and the second QC check (0.75 h), PM lane at 85
    assert acme.key == f"{history['acme']} Summer launch"
    assert (acme.hours, acme.cost) == (1.75, 148.75)


def test_a_rate_card_without_currency_or_with_a_bad_rate_is_refused(tmp_path: Path) -> None:
    card = tmp_path / "rates.toml"
    card.write_text("[rates]\n[rates.roles]\naccount_manager = 90\n")
    with pytest.raises(ValueError, match="currency"):
        load_rates(card)
    card.write_text('[rates]\ncurrency = "EUR"\n[rates.roles]\naccount_manager = "lots"\n')
    with pytest.raises(ValueError, match="account_manager"):
        load_rates(card)


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_hand_offs_between_lanes_wait_for_the_other_lane(deployed: Services, history: dict[str, int]) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        handoffs = {(h.from_lane, h.to_lane): h for h in handoff_report(session)}
    # AM -> PM: sign-off -> brief (2 h), changes requested -> brief (1 h), approval -> timeline (1 h)
    am_pm = handoffs[(AM_LANE, PM_LANE)]
    assert (am_pm.count, am_pm.median_hours, am_pm.p90_hours) == (3, 1.0, pytest.approx(1.8))
    # PM -> AM: the two briefs to their approvals, an hour each; the feedback is not picked up yet
    pm_am = handoffs[(PM_LANE, AM_LANE)]
    assert (pm_am.count, pm_am.median_hours) == (2, 1.0)


def test_throughput_counts_lost_pitches_and_engagements_in_flight(
    deployed: Services, history: dict[str, int], clock: FakeClock
) -> None:
    clock.now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    globex = history["globex"]
    lost = [
        ("pitch_prepare", S.pitch_prepare()),
        ("pitch_outcome", S.pitch_outcome("lost")),
        ("pitch_lost_reason", S.pitch_lost_reason("price", "Too dear.")),
    ]
    for step, data in lost:
        task = _open(deployed, globex, step)
        with deployed.db.unit_of_work() as session:
            complete_task(session, deployed, globex, task.task_id, data, actor="ana")
    with deployed.db.unit_of_work(write=False) as session:
        flow = throughput_report(session)
        acme_only = throughput_report(session, ReportFilter(client="Acme"))
    assert (flow.started, flow.delivered, flow.lost_at_pitch, flow.in_flight) == (2, 0, 1, 1)
    assert (flow.pitches_won, flow.pitches_lost, flow.win_rate) == (1, 1, 0.5)
    assert flow.in_flight_per_stage == {"feedback": 1}
    assert (acme_only.started, acme_only.lost_at_pitch, acme_only.win_rate) == (1, 0, 1.0)


def test_two_versions_of_a_definition_side_by_side(
    deployed: Services, history: dict[str, int], clock: FakeClock, tmp_path: Path
) -> None:
    # version 2 of the engagement definition: the same flow, the pitch step renamed
    edited = tmp_path / "engagement.bpmn"
    original = (deployed.definitions_dir / "engagement.bpmn").read_text()
    edited.write_text(original.replace('name="Prepare pitch"', 'name="Prepare the pitch"'))
    shutil.copytree(deployed.definitions_dir / "forms", tmp_path / "forms")
    with deployed.db.unit_of_work() as session:
        before = get_engagement(session, history["acme"]).instance_id
        v1 = session.get(WorkflowInstance, before)
        assert v1 is not None
        v2, new = deploy_file(session, deployed, edited, actor="olga", note="pitch step renamed")
        assert new
    clock.now = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)
    initech = _start(deployed, "Initech", "Autumn pitch")
    clock.now = datetime(2026, 12, 4, 11, 30, tzinfo=UTC)
    task = _open(deployed, initech, "pitch_prepare")
    with deployed.db.unit_of_work() as session:
        complete_task(session, deployed, initech, task.task_id, S.pitch_prepare(), actor="ana")
    with deployed.db.unit_of_work(write=False) as session:
        old = _rows(time_report(session, ReportFilter(definition_id=v1.definition_id)))
        new_rows = _rows(time_report(session, ReportFilter(definition_id=v2.id)))
        flow = throughput_report(session, ReportFilter(definition_id=v2.id))
    # version 1: Acme's 2 + 1 hours of pitch and Globex's open pitch; version 2: Initech's half hour
    assert (old["pitch"].completed, old["pitch"].median_hours, old["pitch"].open_tasks) == (2, 1.5, 1)
    assert (new_rows["pitch"].completed, new_rows["pitch"].median_hours) == (1, 0.5)
    assert sorted(new_rows) == ["pitch"]
    assert flow.started == 1


def test_the_cli_prints_reports_as_csv_json_and_tables(
    deployed: Services, history: dict[str, int], database_url: str
) -> None:
    baton = Baton(database_url, user="lee")  # leadership reads the reports
    rows = {
        r["key"]: r
        for r in csv.DictReader(
            io.StringIO(ok(baton("report", "time", "--client", "Acme", "--format", "csv")))
        )
    }
    assert float(rows["qc"]["total_hours"]) == pytest.approx(6.0)
    assert float(rows["scope"]["client_hours"]) == pytest.approx(4.5)
    lanes = {r["key"]: r for r in json.loads(ok(baton("report", "cost", "--by", "lane", "--format", "json")))}
    assert lanes[PM_LANE]["cost"] == pytest.approx(297.5)
    table = ok(baton("report", "rework"))
    assert "brief_approve" in table and "QC fail rate: 50%" in table
    assert "148.75 GBP" in table
    flow = {r["key"]: r["value"] for r in json.loads(ok(baton("report", "throughput", "--format", "json")))}
    assert (flow["started"], flow["in flight at feedback"]) == (2, 1)
    assert f"{AM_LANE} -> {PM_LANE}" in ok(baton("report", "handoff"))
    bad = baton("report", "time", "--from", "2026-12-05", "--to", "2026-12-01")
    assert bad.exit_code == 1 and "--from must be before --to" in err(bad)


def test_workload_weighs_open_deadlines_and_logged_hours_against_capacity(
    deployed: Services, history: dict[str, int], clock: FakeClock
) -> None:
    # Friday 10:30: ana holds Acme's feedback (due Wed 9 Dec 10:30) and Globex's pitch (3bd from
    # Tuesday 10:00 = Friday 10:00, so breached); she logged 3 hours this week, pete 3.5
    with deployed.db.unit_of_work(write=False) as session:
        lines = {(w.person, w.lane): w for w in workload_report(session, deployed)}
        monday = {
            (w.person, w.lane): w
            for w in workload_report(session, deployed, now=datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
        }
    ana, pete = lines[("ana", AM_LANE)], lines[("pete", PM_LANE)]
    # Fri 10:30-17:30 (7) + Mon 8.5 + Tue 8.5 + Wed 09:00-10:30 (1.5) = 25.5 business hours
    assert (ana.open_tasks, ana.breached, ana.sla_hours_left) == (2, 1, 25.5)
    # definitions/rates.toml: a week of 30 hours for an AM, 32 for a PM; no period: this week
    assert (ana.logged_hours, ana.planned_hours, ana.capacity_hours, ana.weeks) == (3.0, 0.0, 30.0, 1.0)
    assert (ana.load, ana.utilisation) == (0.1, 0.1)  # (3 logged + 0 planned) / 30
    assert (pete.open_tasks, pete.logged_hours, pete.utilisation) == (0, 3.5, 3.5 / 32)
    # the resourcing plan books Chloe (PM) 30 h, Dev (designer) 60 h; its milestones are past
    # (2025), so what is left is due now: in this week
    chloe, dev = lines[("Chloe", PM_LANE)], lines[("Dev", "designer")]
    assert (chloe.planned_hours, chloe.capacity_hours, chloe.load) == (30.0, 32.0, 30 / 32)
    assert (dev.planned_hours, dev.capacity_hours, dev.load) == (60.0, 30.0, 2.0)  # default capacity
    # the next Monday 09:00: 18.5 hours left, and a new week with nothing logged yet
    assert (monday[("ana", AM_LANE)].sla_hours_left, monday[("ana", AM_LANE)].logged_hours) == (18.5, 0.0)
    assert ("pete", PM_LANE) not in monday


def test_workload_over_a_quarter_weighs_the_quarter_s_capacity(
    deployed: Services, history: dict[str, int], clock: FakeClock
) -> None:
    # October to December 2026: 92 days = 13 1/7 weeks; ana's capacity 30 x 92 / 7 = 394.29 h,
    # against the 3 hours she logged -- not 3 hours against one week (the old 10 %)
    quarter = ReportFilter(start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2027, 1, 1, tzinfo=UTC))
    with deployed.db.unit_of_work(write=False) as session:
        lines = {(w.person, w.lane): w for w in workload_report(session, deployed, quarter)}
        rows = {r["key"]: r for r in report_rows(session, deployed, "workload", quarter).rows}
        note = report_rows(session, deployed, "workload", quarter).note
    ana, chloe = lines[("ana", AM_LANE)], lines[("Chloe", PM_LANE)]
    assert (ana.weeks, ana.capacity_hours) == (13.14, round(30 * 92 / 7, 2))
    assert ana.utilisation == pytest.approx(3 / (30 * 92 / 7), abs=1e-6)
    # Chloe's 30 planned hours fall in the quarter (now, Fri 4 Dec, is in it): 30 of 32 x 92/7
    assert (chloe.planned_hours, chloe.capacity_hours) == (30.0, round(32 * 92 / 7, 2))
    assert rows[f"ana / {AM_LANE}"]["capacity_hours"] == round(30 * 92 / 7, 2)
    assert note == "period 2026-10-01 to 2026-12-31 (13.14 weeks)"


def test_a_capacity_table_must_give_positive_hours(tmp_path: Path) -> None:
    card = tmp_path / "rates.toml"
    card.write_text('[rates]\ncurrency = "EUR"\n')
    with pytest.raises(ValueError, match=r"\[capacity\]"):
        load_capacity(card)
    card.write_text("[capacity]\ndefault = 30\n[capacity.roles]\naccount_manager = 0\n")
    with pytest.raises(ValueError, match="account_manager"):
        load_capacity(card)
    card.write_text("[capacity]\ndefault = 35\n[capacity.roles]\nproject_manager = 20\n")
    table = load_capacity(card)
    assert (table.for_lane(AM_LANE), table.for_lane(PM_LANE), table.for_lane("Studio")) == (35, 20, 35)


def test_the_business_timeline_agrees_with_the_calendar_across_weekends_holidays_and_dst(
    services: Services,
) -> None:
    calendar = services.calendar
    timeline = BusinessTimeline(calendar)
    # every 997 minutes through 2026 and into 2027: all hours of the day, both DST changes,
    # Christmas and New Year; the first moment asked is mid-year, so the days extend both ways
    moments = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=997 * i) for i in range(560)]
    pairs = [(moments[i], moments[j]) for i in range(0, 560, 7) for j in (i + 1, i + 9, i + 70) if j < 560]
    timeline.at(moments[300])
    for start, end in pairs:
        assert timeline.between(start, end) == pytest.approx(calendar.business_hours_between(start, end))
    assert timeline.between(moments[5], moments[2]) == 0.0
