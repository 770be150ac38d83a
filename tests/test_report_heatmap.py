"""The bottleneck heatmap and the before/after comparison on a history worked out by hand.

The clock starts on Tuesday 1 December 2026, 10:00 London time (GMT, so UTC); the agency works
09:00-17:30 on weekdays. Two fast-track jobs run on version 1 (production due in 10 business
days, QC in 4 business hours):

    Acme "Poster" (v1)
      brief_write     Tue 10:00 -> Tue 11:00    1.0 bh
      production      Tue 11:00 -> Wed 15:00    6.5 + 6.0 = 12.5 bh   (the slow one; 4 h logged)
      qc_check        Wed 15:00 -> Thu 12:00    2.5 + 3.0 = 5.5 bh    (due Thu 10:30: breached)
      client_feedback Thu 12:00, open
    Globex "Flyer" (v1)
      brief_write     Tue 10:00 -> Tue 13:00    3.0 bh
      production      Tue 13:00, open

    On version 1: brief_write mean 2.0 (2 done), production 12.5, qc_check 5.5; the duration
    scale ends at 12.5, so brief_write is in bucket 0 (2.0 / 2.5), qc_check in 2 (5.5 / 2.5),
    production in 4. Breach rate: qc_check 1 of 1 (bucket 4), the others 0 of their judged.

Thursday 12:00 olga deploys version 2 ("Production due in one day": its SLA 10bd -> 1bd) and
Acme's "Banner" runs on it:

    Acme "Banner" (v2)
      brief_write     Thu 12:00 -> Thu 13:00    1.0 bh
      production      Thu 13:00 -> Thu 16:00    3.0 bh   (1 h logged)
      qc_check        Thu 16:00 -> Fri 10:00    1.5 + 1.0 = 2.5 bh (due Fri 11:30: on time)
      client_feedback Fri 10:00, open

    v1 -> v2: business hours per engagement 22.0 / 2 = 11.0 -> 6.5; SLA compliance 3/4 -> 3/3;
    effort cost per engagement 4 h x 85 / 2 = 170 -> 85; production mean 12.5 -> 3.0;
    qc_check mean 5.5 -> 2.5, breach rate 100 % -> 0 %.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import DefinitionVersion, WorkflowInstance
from tests.api_support import ROOT
from tests.conftest import FakeClock
from tests.test_reports import _open, history  # noqa: F401 (a fixture)
from workflows.agency import AM_LANE, PM_LANE
from workflows.definitions.catalog import deploy_definition
from workflows.demo import samples as S
from workflows.engagements.effort import log_effort
from workflows.engagements.lifecycle import start_engagement
from workflows.engagements.tasks import complete_task
from workflows.models import Engagement
from workflows.people.permissions import PermissionDenied
from workflows.reports.compare import TOO_FEW, UNCLEAR, compare_versions, latest_two
from workflows.reports.heatmap import BUCKETS, bucket_of, colour_scale, heatmap, human_tasks_of
from workflows.reports.process import ReportFilter
from workflows.reports.rows import to_csv
from workflows.reports.stats import mean_difference, quantile_difference, share_difference
from workflows.services import Services

TEAM = {AM_LANE: "ana", PM_LANE: "pete"}
FAST_TRACK = (ROOT / "definitions" / "fast_track.bpmn").read_text(encoding="utf-8")
ONE_DAY_PRODUCTION = FAST_TRACK.replace('value="10bd"', 'value="1bd"', 1)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def _job(services: Services, client: str, name: str) -> int:
    with services.db.unit_of_work() as session:
        return start_engagement(
            session,
            services,
            client=client,
            name=name,
            process_id="fast_track",
            options={},
            actor="olga",
            account_manager="ana",
            project_manager="pete",
        ).id


def _done(
    services: Services,
    clock: FakeClock,
    job: int,
    step: str,
    data: dict[str, Any],
    when: datetime,
    logged: float = 0,
) -> None:
    clock.now = when
    task = _open(services, job, step)
    assert task.lane is not None
    with services.db.unit_of_work() as session:
        complete_task(session, services, job, task.task_id, data, actor=TEAM[task.lane])
        if logged:
            log_effort(session, services, job, task.task_id, logged, actor="pete")


@pytest.fixture
def versions_history(deployed: Services, clock: FakeClock) -> dict[str, int]:
    """The three jobs of the module docstring, on fast_track versions 1 and 2."""
    poster, flyer = _job(deployed, "Acme", "Poster"), _job(deployed, "Globex", "Flyer")
    _done(deployed, clock, poster, "brief_write", S.brief_write(), _at(1, 11))
    _done(deployed, clock, flyer, "brief_write", S.brief_write(), _at(1, 13))
    _done(deployed, clock, poster, "production", S.production(3000), _at(2, 15), logged=4)
    _done(deployed, clock, poster, "qc_check", S.qc_check("pass"), _at(3, 12))
    with deployed.db.unit_of_work() as session:
        deploy_definition(
            session, deployed, ONE_DAY_PRODUCTION, actor="olga", note="Production due in one day"
        )
    banner = _job(deployed, "Acme", "Banner")
    _done(deployed, clock, banner, "brief_write", S.brief_write(), _at(3, 13))
    _done(deployed, clock, banner, "production", S.production(1000), _at(3, 16), logged=1)
    _done(deployed, clock, banner, "qc_check", S.qc_check("pass"), _at(4, 10))
    return {"poster": poster, "flyer": flyer, "banner": banner}


def _heat(services: Services, **kw: Any) -> Any:
    with services.db.unit_of_work(write=False) as session:
        return heatmap(session, services, "fast_track", **kw, actor="lee")


def test_the_heatmap_colours_the_slow_task_hottest(
    deployed: Services, versions_history: dict[str, int]
) -> None:
    heat = _heat(deployed, version=1)
    assert (heat.version, heat.diagram_version, heat.measure) == (1, 1, "duration")
    rows = {r["key"]: r for r in heat.rows}
    assert list(rows) == ["brief_write", "production", "qc_check", "client_feedback"]  # diagram order
    assert rows["production"]["name"] == "Produce the work"
    assert (rows["brief_write"]["completed"], rows["brief_write"]["mean_hours"]) == (2, pytest.approx(2.0))
    assert rows["brief_write"]["median_hours"] == pytest.approx(2.0)
    assert rows["production"]["mean_hours"] == pytest.approx(12.5)
    assert rows["production"]["open_tasks"] == 1  # Globex's Flyer
    assert rows["qc_check"]["mean_hours"] == pytest.approx(5.5)
    assert rows["client_feedback"]["mean_hours"] is None and rows["client_feedback"]["open_tasks"] == 1
    assert {k: r["bucket"] for k, r in rows.items()} == {
        "brief_write": 0,
        "production": 4,
        "qc_check": 2,
        "client_feedback": None,
    }
    assert heat.hottest == "production"
    assert heat.scale[-1].high == pytest.approx(12.5) and heat.scale[0].label == "0.0 to 2.5 h"


def test_by_breach_rate_the_late_qc_check_is_hottest(
    deployed: Services, versions_history: dict[str, int]
) -> None:
    heat = _heat(deployed, version=1, measure="breach")
    rows = {r["key"]: r for r in heat.rows}
    assert (rows["qc_check"]["breached"], rows["qc_check"]["judged"], rows["qc_check"]["breach_rate"]) == (
        1,
        1,
        1.0,
    )
    assert (rows["production"]["breached"], rows["production"]["judged"]) == (0, 1)
    assert rows["brief_write"]["breach_rate"] == 0.0 and rows["brief_write"]["judged"] == 2
    assert rows["client_feedback"]["breach_rate"] is None  # open, not late: no outcome yet
    assert {k: r["bucket"] for k, r in rows.items()} == {
        "brief_write": 0,
        "production": 0,
        "qc_check": 4,
        "client_feedback": None,
    }
    assert heat.hottest == "qc_check"
    assert [b.label for b in heat.scale][-1] == "80% to 100%"


def test_filters_and_every_version(deployed: Services, versions_history: dict[str, int]) -> None:
    latest = _heat(deployed)  # no version: the latest
    assert latest.version == 2
    assert {r["key"]: r["mean_hours"] for r in latest.rows}["production"] == pytest.approx(3.0)
    every = _heat(deployed, every_version=True)
    rows = {r["key"]: r for r in every.rows}
    assert (every.version, every.diagram_version) == (None, 2)
    assert rows["production"]["completed"] == 2
    assert rows["production"]["mean_hours"] == pytest.approx((12.5 + 3.0) / 2)
    globex = {r["key"]: r for r in _heat(deployed, version=1, filters=ReportFilter(client="Globex")).rows}
    assert (
        globex["brief_write"]["mean_hours"] == pytest.approx(3.0) and globex["production"]["completed"] == 0
    )
    tuesday = ReportFilter(start=_at(1, 0), end=_at(2, 0))  # tasks created on Tuesday
    assert {r["key"]: r["completed"] for r in _heat(deployed, version=1, filters=tuesday).rows} == {
        "brief_write": 2,
        "production": 1,
        "qc_check": 0,
        "client_feedback": 0,
    }


def test_the_colour_scale() -> None:
    scale = colour_scale("duration", 10.0)
    assert len(scale) == BUCKETS
    assert [bucket_of(v, scale) for v in (0.0, 1.99, 2.0, 9.99, 10.0, None)] == [0, 0, 1, 4, 4, None]
    assert bucket_of(0.0, colour_scale("duration", 0.0)) == 0  # nothing took any time
    assert [bucket_of(v, colour_scale("breach", 0.3)) for v in (0.0, 0.5, 1.0)] == [0, 2, 4]  # shares: fixed
    with pytest.raises(ValueError, match="unknown measure"):
        colour_scale("speed", 1.0)


def test_human_tasks_of_reads_the_diagram() -> None:
    assert human_tasks_of(FAST_TRACK) == {
        "brief_write": "Write brief",
        "production": "Produce the work",
        "qc_check": "Check quality",
        "client_feedback": "Get client feedback",
    }


def test_comparing_two_versions_shows_the_change(
    deployed: Services, versions_history: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        assert latest_two(session, "fast_track") == (1, 2)
        result = compare_versions(session, deployed, "fast_track", actor="olga")
    assert (result.a, result.b) == (1, 2)
    assert result.notes[1] == "Production due in one day"
    # two engagements against one: below the minimum sample (5 in rates.toml), so nothing is
    # called better or worse, however large the change looks
    assert (result.engagements, result.minimum, result.enough) == ((2, 1), 5, False)
    figures = {(r["section"], r["key"], r["measure"]): r for r in result.rows}
    engagements = figures["summary", "engagements", "count"]
    assert (engagements["a"], engagements["b"], engagements["change"]) == (2, 1, "-")
    hours = figures["summary", "business hours", "per engagement"]
    assert (hours["a"], hours["b"], hours["delta"], hours["n_a"], hours["n_b"]) == (11.0, 6.5, -4.5, 2, 1)
    assert hours["change"] == TOO_FEW
    sla = figures["summary", "SLA compliance", "share on time"]
    assert (sla["a"], sla["b"], sla["delta"], sla["n_a"], sla["n_b"]) == (0.75, 1.0, 0.25, 4, 3)
    assert sla["change"] == TOO_FEW
    cost = figures["summary", "effort cost", "per engagement"]
    assert (cost["a"], cost["b"], cost["delta"], cost["unit"]) == (170.0, 85.0, -85.0, "GBP")
    rework = figures["summary", "rework rounds", "per engagement"]
    assert (rework["a"], rework["b"]) == (0.0, 0.0)
    production = figures["time per task", "Produce the work", "mean hours"]
    assert (production["a"], production["b"], production["delta"], production["change"]) == (
        12.5,
        3.0,
        -9.5,
        TOO_FEW,
    )
    qc_late = figures["time per task", "Check quality", "breach rate"]
    assert (qc_late["a"], qc_late["b"], qc_late["n_a"], qc_late["n_b"]) == (1.0, 0.0, 1, 1)
    qc_stage = figures["time per stage", "qc", "median hours"]
    assert (qc_stage["a"], qc_stage["b"]) == (5.5, 2.5)
    assert all(r["change"] in (TOO_FEW, "-") for r in result.rows)
    # both diagrams on one scale: v1's production is the hottest of the two, v2's is cool
    a, b = ({e.figures.bpmn_id: e.bucket for e in h.elements} for h in result.heatmaps)
    assert (a["production"], b["production"]) == (4, 1)
    assert result.heatmaps[0].scale == result.heatmaps[1].scale


def test_with_a_minimum_of_one_only_changes_the_interval_rules_out_are_called(
    deployed: Services, versions_history: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        result = compare_versions(session, deployed, "fast_track", minimum=1, actor="olga")
    figures = {(r["section"], r["key"], r["measure"]): r for r in result.rows}
    # per engagement v1 took 19.0 h (Poster: 1 + 12.5 + 5.5) and 3.0 h (Flyer); resampling those
    # two gives means of 3, 11 or 19 against v2's 6.5: from +3.5 to -12.5, so no clear change
    hours = figures["summary", "business hours", "per engagement"]
    assert (hours["low"], hours["high"], hours["change"]) == (-12.5, 3.5, UNCLEAR)
    # one QC late of one against none of one: Newcombe's interval spans zero
    qc_late = figures["time per task", "Check quality", "breach rate"]
    assert qc_late["low"] < 0 < qc_late["high"] and qc_late["change"] == UNCLEAR
    # one production run on each side: every resample is the same -9.5 h, so the interval is a point
    production = figures["time per task", "Produce the work", "mean hours"]
    assert (production["low"], production["high"], production["change"]) == (-9.5, -9.5, "better")
    assert figures["summary", "rework rounds", "per engagement"]["change"] == "same"
    total = figures["time per stage", "production", "total hours"]
    assert total["change"] == "-"  # a total grows with volume: never judged


def test_a_migrated_engagement_counts_each_step_under_its_own_version(
    deployed: Services, versions_history: dict[str, int]
) -> None:
    # Flyer moves to v2 mid-way (as running-instance migration does): its brief, written on v1,
    # stays a v1 step; its production, still open, was readied on v1 too
    with deployed.db.unit_of_work() as session:
        v2 = session.scalar(
            select(DefinitionVersion.id).where(
                DefinitionVersion.process_id == "fast_track", DefinitionVersion.version == 2
            )
        )
        engagement = session.get(Engagement, versions_history["flyer"])
        assert engagement is not None
        instance = session.get(WorkflowInstance, engagement.instance_id)
        assert instance is not None
        instance.definition_id = v2
    with deployed.db.unit_of_work(write=False) as session:
        result = compare_versions(session, deployed, "fast_track", minimum=1, actor="olga")
    figures = {(r["section"], r["key"], r["measure"]): r for r in result.rows}
    assert figures["summary", "engagements", "count"]["a"] == 2  # Poster and Flyer ran steps on v1
    assert figures["summary", "engagements", "count"]["b"] == 1  # Banner alone ran one on v2
    brief = figures["time per task", "Write brief", "mean hours"]
    assert (brief["a"], brief["n_a"], brief["b"], brief["n_b"]) == (2.0, 2, 1.0, 1)


def test_the_intervals_match_their_textbook_cases() -> None:
    # Newcombe (1998), table II, example (a): 56/70 against 48/80, difference -0.2 (0.0524 to 0.3339)
    interval = share_difference(48, 80, 56, 70)
    assert interval is not None
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.0524, 0.3339)
    # large samples: Welch's interval; 300 values each of 0/2 against 1/3 -> means 1 and 2, each
    # with variance 300/299, so the half width is 1.96 * sqrt(2 / 299)
    wide = mean_difference([0.0, 2.0] * 150, [1.0, 3.0] * 150)
    assert wide is not None
    half = 1.959963984540054 * (2 / 299) ** 0.5
    assert (wide.low, wide.high) == (pytest.approx(1 - half), pytest.approx(1 + half))
    assert wide.excludes_zero
    # the same sorted durations on both sides: the medians do not differ, the interval spans 0
    same = quantile_difference([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0], 0.5)
    assert same is not None and same.low < 0 < same.high


def test_a_version_compared_with_a_worse_one(deployed: Services, versions_history: dict[str, int]) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        result = compare_versions(session, deployed, "fast_track", 2, 1, minimum=1, actor="lee")
    figures = {(r["section"], r["key"], r["measure"]): r for r in result.rows}
    assert figures["summary", "SLA compliance", "share on time"]["delta"] == -0.25
    production = figures["time per task", "Produce the work", "mean hours"]
    assert (production["delta"], production["change"]) == (9.5, "worse")


def test_only_report_readers_see_heatmaps_and_comparisons(
    deployed: Services, versions_history: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        for username in ("ana", "pete", "rita"):
            with pytest.raises(PermissionDenied):
                heatmap(session, deployed, "fast_track", actor=username)
            with pytest.raises(PermissionDenied):
                compare_versions(session, deployed, "fast_track", actor=username)


def test_the_rows_round_trip_through_csv(deployed: Services, versions_history: dict[str, int]) -> None:
    import csv
    import io

    heat = _heat(deployed, version=1)
    back = list(csv.DictReader(io.StringIO(to_csv(heat.rows))))
    assert [r["key"] for r in back] == [r["key"] for r in heat.rows]
    assert float(back[1]["mean_hours"]) == pytest.approx(12.5) and back[1]["bucket"] == "4"
    with deployed.db.unit_of_work(write=False) as session:
        rows = compare_versions(session, deployed, "fast_track", actor="lee").rows
    again = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(again) == len(rows)
    assert {(r["key"], r["measure"]): r["delta"] for r in again}["business hours", "per engagement"] == "-4.5"


def test_right_after_a_deploy_the_heatmap_opens_on_the_newest_version_with_data(
    deployed: Services, versions_history: dict[str, int]
) -> None:
    with deployed.db.unit_of_work() as session:
        three = FAST_TRACK.replace('value="10bd"', 'value="5bd"', 1)
        deploy_definition(session, deployed, three, actor="olga", note="Production due in a week")
    heat = _heat(deployed)  # no version asked: v3 has no step yet, so v2 (Banner's) is shown
    assert (heat.version, heat.newest_without_data) == (2, 3)
    assert {r["key"]: r["mean_hours"] for r in heat.rows}["production"] == pytest.approx(3.0)
    assert _heat(deployed, version=3).rows[1]["completed"] == 0  # asked for: shown, empty


def test_the_heatmap_keeps_client_waiting_apart_from_agency_time(
    deployed: Services,
    history: dict[str, int],  # noqa: F811 (test_reports' fixture)
) -> None:
    # scope_signoff waited on the client Tue 14:00 -> Wed 10:00: 4.5 business hours, the client's
    with deployed.db.unit_of_work(write=False) as session:
        heat = heatmap(session, deployed, "engagement", actor="lee")
    rows = {r["key"]: r for r in heat.rows}
    signoff = rows["scope_signoff"]
    assert (signoff["client_hours"], signoff["agency_hours"], signoff["waits_on_client"]) == (4.5, 0.0, True)
    assert signoff["bucket"] is None  # off the agency scale: not painted as a bottleneck
    assert heat.hottest != "scope_signoff"
    production = rows["production"]
    assert (production["waits_on_client"], production["client_hours"]) == (False, 0.0)
    assert heat.scale[-1].high == max(
        r["mean_hours"] or 0.0 for r in heat.rows if not r["waits_on_client"]
    )
