"""The stage timeline on the engagement page: when each stage ran, how many steps, which were late."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from tests.api_support import make_app
from tests.conftest import FakeClock, open_engagement
from tests.test_diagrams import logged_in
from workflows.demo import samples as S
from workflows.engagements.tasks import complete_task
from workflows.services import Services
from workflows.views.timeline import engagement_timeline


def test_pitch_took_a_day_and_the_scope_estimate_is_still_open_past_its_deadline(
    deployed: Services, clock: FakeClock, database_url: str
) -> None:
    start = clock.now  # Tuesday 1 December, 10:00 UTC
    engagement = open_engagement(deployed)
    for step, data, hours in (
        ("pitch_prepare", S.pitch_prepare(), 3),
        ("pitch_outcome", S.pitch_outcome("won"), 24),
    ):
        clock.now = start + timedelta(hours=hours)
        with deployed.db.unit_of_work() as session:
            complete_task(session, deployed, engagement, step, data, actor="ana")
    clock.now = start + timedelta(days=8)  # the scope estimate (3 business days) is overdue
    with deployed.db.unit_of_work(write=False) as session:
        timeline = engagement_timeline(session, deployed, engagement)
    assert timeline is not None
    pitch, scope = timeline.spans
    assert (pitch.stage, pitch.start, pitch.end, pitch.steps, pitch.open, pitch.late) == (
        "pitch",
        start,
        start + timedelta(hours=24),
        2,
        0,
        0,
    )
    assert (scope.stage, scope.start, scope.end, scope.open, scope.late) == (
        "scope",
        start + timedelta(hours=24),
        clock.now,
        1,
        1,
    )
    assert (timeline.start, timeline.end) == (start, clock.now)
    assert timeline.position(pitch) == (0.0, 1 / 8)
    assert timeline.position(scope) == (1 / 8, 7 / 8)

    app: Flask = make_app(deployed, database_url)
    html = logged_in(app, deployed, "ana").get(f"/engagements/{engagement}").get_data(as_text=True)
    assert '<g class="span" data-stage="pitch">' in html
    assert '<g class="span open late" data-stage="scope">' in html
    assert "1.0 d · 2 steps" in html and "7.0 d · 1 step · 1 late" in html
