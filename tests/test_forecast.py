"""Forecasts of delivery from a version's history, checked against hand-computed figures.

The history is tests/test_variants_export.py's: Acme, Beta and Corp finished. From the moment
their production step was readied to their end they took (business hours, weekdays 09:00-17:30):

    Beta  1 h a step: production, QC, feedback, process review, growth review = 5
    Corp  2 h a step: the same five steps = 10
    Acme  production readied Wed 2 Dec 17:00, ended Fri 4 Dec 13:30: 0.5 + 8.5 + 4.5 = 13.5

P10 = 5 + 0.2 x (10 - 5) = 6; P50 = 10; P90 = 10 + 0.8 x (13.5 - 10) = 12.8.

Delta starts Tue 15 Dec 09:00 and does a step an hour up to production, readied Tue 17:00, so:
expected Tue 17:00 + 10 bh = Thu 17 Dec 10:00; range Wed 16 Dec 14:30 (6 bh) to Thu 12:48 (12.8 bh).
Delta then finishes at an hour a step: 5 bh after production was readied, below P10 -- the
accuracy report says an error of 5 h and not within range for the forecast made at production.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from tests.api_support import make_app
from tests.conftest import FakeClock
from tests.test_reports import _start
from tests.test_reports_pages import logged_in
from tests.test_variants_export import FINISH, HAPPY, _walk_hourly, finished  # noqa: F401 (fixture)
from workflows.demo import samples as S
from workflows.reports.forecast import NOT_ENOUGH, forecast_engagement
from workflows.reports.process import ReportFilter
from workflows.reports.registry import report_rows
from workflows.services import Services

UP_TO_PRODUCTION = [(s.task, s.data) for s in S.up_to_production()]
AFTER_PRODUCTION = HAPPY[len(UP_TO_PRODUCTION) :]


@pytest.fixture
def delta(deployed: Services, clock: FakeClock, finished: dict[str, int]) -> int:  # noqa: F811
    clock.now = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
    engagement = _start(deployed, "Delta", "New year teaser")
    _walk_hourly(deployed, clock, engagement, UP_TO_PRODUCTION, 1)
    return engagement


def test_a_running_engagement_is_forecast_from_its_versions_history(deployed: Services, delta: int) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        forecast = forecast_engagement(session, deployed, delta)
    assert forecast.step == "production" and forecast.history == 3
    assert forecast.since == datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
    assert forecast.hours == (pytest.approx(6.0), pytest.approx(10.0), pytest.approx(12.8))
    assert forecast.expected == datetime(2026, 12, 17, 10, 0, tzinfo=UTC)
    assert forecast.earliest == datetime(2026, 12, 16, 14, 30, tzinfo=UTC)
    assert forecast.latest == datetime(2026, 12, 17, 12, 48, tzinfo=UTC)
    assert forecast.reason == ""


def test_without_history_the_forecast_says_so(deployed: Services, clock: FakeClock) -> None:
    engagement = _start(deployed, "Globex", "Winter pitch")
    with deployed.db.unit_of_work(write=False) as session:
        forecast = forecast_engagement(session, deployed, engagement)
        accuracy = report_rows(session, deployed, "forecast_accuracy", ReportFilter())
    assert forecast.expected is None and forecast.history == 0
    assert forecast.reason.startswith(NOT_ENOUGH)
    assert accuracy.rows == [] and NOT_ENOUGH in accuracy.note


def test_the_accuracy_report_replays_past_forecasts(deployed: Services, clock: FakeClock, delta: int) -> None:
    _walk_hourly(deployed, clock, delta, AFTER_PRODUCTION, 1)
    with deployed.db.unit_of_work(write=False) as session:
        report = report_rows(session, deployed, "forecast_accuracy", ReportFilter())
    rows = {r["key"]: r for r in report.rows}
    # only Delta had three engagements finished before it: one forecast per step it readied
    assert rows["production"]["forecasts"] == 1
    assert rows["production"]["mean_abs_error_hours"] == pytest.approx(5.0)
    assert rows["production"]["within_range"] == 0
    assert all(r["forecasts"] == 1 for r in report.rows)
    assert "past forecast(s)" in report.note


@pytest.fixture
def app(deployed: Services, database_url: str, delta: int) -> Flask:
    return make_app(deployed, database_url)


def test_the_engagement_page_and_the_board_show_the_forecast(
    app: Flask, deployed: Services, delta: int
) -> None:
    pete = logged_in(app, deployed, "pete")
    page = pete.get(f"/engagements/{delta}").get_data(as_text=True)
    assert "Forecast delivery" in page and 'datetime="2026-12-17T10:00:00+00:00"' in page
    board = pete.get("/engagements").get_data(as_text=True)
    lee = logged_in(app, deployed, "lee")
    accuracy = lee.get("/reports/forecast_accuracy")
    assert accuracy.status_code == 200 and "Forecast accuracy" in accuracy.get_data(as_text=True)
    variants = lee.get("/reports/variants")
    assert variants.status_code == 200 and "Where engagements really go" in variants.get_data(as_text=True)
    assert "Forecast delivery" in board and 'datetime="2026-12-17T10:00:00+00:00"' in board
