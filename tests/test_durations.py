"""Every task carries its business-hour durations, so the time and hand-off reports only add them up.

The agency calendar (definitions/calendar.toml) works 09:00-17:30 London time on weekdays, minus
English public holidays and the office closure of 29-31 December 2026. Christmas 2026 falls on a
Friday, Boxing Day on the Saturday (its substitute holiday is Monday 28 December), New Year's Day
on the next Friday: a task readied on Thursday 24 December at 16:00 and done on Monday 4 January
at 10:00 took 1.5 + 1 = 2.5 business hours.
"""

from __future__ import annotations

import random
import shutil
import statistics
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import literal, select, union_all, update

from cli.main import cli
from engine.models import HumanTask
from tests.conftest import FakeClock, open_engagement
from tests.test_cli import CLI_ENV, DEFINITIONS, Baton, ok
from workflows.demo import samples as stories
from workflows.engagements.lifecycle import get_engagement
from workflows.engagements.tasks import claim_task, complete_task, unclaim_task
from workflows.reports.flow import handoff_report
from workflows.reports.process import ReportFilter, percentile, spread, time_report
from workflows.services import Services
from workflows.time.calendar import BusinessCalendar
from workflows.time.durations import recompute_durations

CHRISTMAS_EVE = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)
BACK_TO_WORK = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)


def _task(services: Services, engagement_id: int, bpmn_id: str) -> HumanTask:
    with services.db.unit_of_work(write=False) as session:
        instance_id = get_engagement(session, engagement_id).instance_id
        return session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id)
            .order_by(HumanTask.id.desc())
        ).first()  # type: ignore[return-value]


def _complete(
    services: Services, engagement_id: int, bpmn_id: str, data: dict[str, object], actor: str = "ana"
) -> HumanTask:
    task = _task(services, engagement_id, bpmn_id)
    with services.db.unit_of_work() as session:
        complete_task(session, services, engagement_id, task.task_id, data, actor=actor)
    return _task(services, engagement_id, bpmn_id)


def test_a_task_done_over_christmas_stores_only_the_working_hours(
    deployed: Services, clock: FakeClock
) -> None:
    clock.now = CHRISTMAS_EVE
    engagement = open_engagement(deployed)
    clock.now = BACK_TO_WORK
    pitch = _complete(deployed, engagement, "pitch_prepare", stories.pitch_prepare())
    # Christmas, the weekend, the substitute holiday, the closure, New Year and a weekend count nothing
    assert pitch.business_hours == pytest.approx(2.5)
    assert pitch.business_hours == pytest.approx(
        deployed.calendar.business_hours_between(CHRISTMAS_EVE, BACK_TO_WORK)
    )
    assert pitch.pickup_hours == pytest.approx(2.5)  # never claimed: picked up when done


def test_a_claim_sets_the_pickup_time_and_releasing_it_clears_it(
    deployed: Services, clock: FakeClock
) -> None:
    engagement = open_engagement(deployed)  # Tuesday 1 December, 10:00
    clock.now = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    _complete(deployed, engagement, "pitch_prepare", stories.pitch_prepare())
    outcome = _task(deployed, engagement, "pitch_outcome")
    assert (outcome.business_hours, outcome.pickup_hours) == (None, None)  # open, nobody on it yet

    def claim(at: datetime) -> None:
        clock.now = at
        with deployed.db.unit_of_work() as session:
            claim_task(session, deployed, engagement, outcome.task_id, actor="ana")

    claim(datetime(2026, 12, 1, 16, 30, tzinfo=UTC))
    assert _task(deployed, engagement, "pitch_outcome").pickup_hours == pytest.approx(5.5)
    with deployed.db.unit_of_work() as session:
        unclaim_task(session, deployed, engagement, outcome.task_id, actor="ana")
    assert _task(deployed, engagement, "pitch_outcome").pickup_hours is None
    claim(datetime(2026, 12, 2, 9, 30, tzinfo=UTC))  # the next morning: 6.5 + 0.5 business hours
    clock.now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    done = _complete(deployed, engagement, "pitch_outcome", stories.pitch_outcome("won"))
    assert done.pickup_hours == pytest.approx(7.0)  # the claim still says when it was picked up
    assert done.business_hours == pytest.approx(9.5)


def _walk_to_the_brief(services: Services, clock: FakeClock) -> int:
    """Acme's pitch and scope, an hour each from Tuesday 10:00; the sign-off readies the PM's brief."""
    engagement = open_engagement(services)
    steps = [
        ("pitch_prepare", stories.pitch_prepare()),
        ("pitch_outcome", stories.pitch_outcome("won")),
        ("scope_estimate", stories.scope_estimate(20000)),
        ("scope_signoff", stories.scope_signoff("approved")),
    ]
    for hour, (step, data) in enumerate(steps, start=11):
        clock.now = datetime(2026, 12, 1, hour, 0, tzinfo=UTC)
        _complete(services, engagement, step, data)
    return engagement


def _forget_durations(services: Services) -> None:
    """The rows as a store upgraded to revision 0011 has them: closed, without durations."""
    with services.db.unit_of_work() as session:
        session.execute(update(HumanTask).values(business_hours=None, pickup_hours=None))


def test_tasks_closed_before_the_upgrade_get_their_durations_from_the_cli(
    deployed: Services, clock: FakeClock, database_url: str
) -> None:
    engagement = _walk_to_the_brief(deployed, clock)
    _forget_durations(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        assert time_report(session, ReportFilter(client="Acme")).rows[0].completed == 0
    assert "worked out for 4 task(s)" in ok(Baton(database_url)("durations"))
    assert "worked out for 0 task(s)" in ok(Baton(database_url)("durations"))  # nothing missing any more
    with deployed.db.unit_of_work(write=False) as session:
        stages = {r.key: r for r in time_report(session).rows}
    assert (stages["pitch"].completed, stages["pitch"].total_hours) == (2, pytest.approx(2.0))
    assert stages["scope"].total_hours == pytest.approx(2.0)
    # `init-db`, which applies the migration, fills them in too
    _forget_durations(deployed)
    assert "worked out for 4 task(s)" in ok(Baton(database_url)("init-db"))
    assert _task(deployed, engagement, "pitch_prepare").business_hours == pytest.approx(1.0)


def test_after_a_calendar_change_recomputing_moves_the_figures(
    deployed: Services, clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    _walk_to_the_brief(deployed, clock)
    # the agency now opens at 10:30: the pitch's first hour (10:00-11:00) keeps only half an hour
    definitions = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, definitions)
    calendar_file = definitions / "calendar.toml"
    calendar_file.write_text(calendar_file.read_text().replace('opens = "09:00"', 'opens = "10:30"'))
    result = CliRunner().invoke(
        cli, ["--db", database_url, "--definitions", str(definitions), "durations", "--all"], env=CLI_ENV
    )
    assert result.exit_code == 0, result.output
    assert "worked out for 4 task(s)" in result.output
    with deployed.db.unit_of_work(write=False) as session:
        stages = {r.key: r for r in time_report(session).rows}
    assert stages["pitch"].total_hours == pytest.approx(1.5)
    assert stages["pitch"].median_hours == pytest.approx(0.75)
    # and back on the calendar the services run on
    with deployed.db.unit_of_work() as session:
        assert recompute_durations(session, deployed.calendar, missing_only=False) == 4
    with deployed.db.unit_of_work(write=False) as session:
        assert {r.key: r for r in time_report(session).rows}["pitch"].total_hours == pytest.approx(
            2.0
        )


def test_recomputing_on_another_calendar_changes_the_hand_off_latency(
    deployed: Services, clock: FakeClock
) -> None:
    engagement = _walk_to_the_brief(deployed, clock)  # the brief became ready Tuesday 14:00
    clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    _complete(deployed, engagement, "brief_write", stories.brief_write(), actor="pete")
    with deployed.db.unit_of_work(write=False) as session:
        (am_pm, *_) = handoff_report(session)
    assert (am_pm.count, am_pm.median_hours) == (1, pytest.approx(4.5))  # 14:00-17:30 and 09:00-10:00
    with deployed.db.unit_of_work() as session:
        recompute_durations(session, BusinessCalendar(opens=time(9, 30)), missing_only=False)
    with deployed.db.unit_of_work(write=False) as session:
        (am_pm, *_) = handoff_report(session)
    assert am_pm.median_hours == pytest.approx(4.0)


def test_the_database_works_out_medians_and_percentiles_as_python_does(services: Services) -> None:
    rng = random.Random(11)
    groups = {f"g{n}": [round(rng.uniform(0, 40), 3) for _ in range(n)] for n in (1, 2, 3, 4, 7, 10, 11, 36)}
    rows = [
        select(literal(key).label("key"), literal(value).label("hours"))
        for key, values in groups.items()
        for value in values
    ]
    with services.db.unit_of_work(write=False) as session:
        figures = spread(session, union_all(*rows).subquery(), ("key",))
    assert sorted(key for (key,) in figures) == sorted(groups)
    for (key,), got in figures.items():
        values = groups[key]
        assert (got.count, got.total) == (len(values), pytest.approx(sum(values)))
        assert got.median == pytest.approx(statistics.median(values))
        assert got.p90 == pytest.approx(percentile(values, 0.9))
