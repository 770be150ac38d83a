"""Fixtures: a fresh store per test on SQLite (default) or PostgreSQL.

Set ``BATON_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test`` to run
the same suite on PostgreSQL (the test script does both).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from sqlalchemy import Engine, MetaData, text

from engine.db import Base, Database
from tests.api_support import make_app
from workflows.bootstrap import MIGRATIONS, build_services
from workflows.definitions.catalog import install_definitions
from workflows.demo.seed import seed_users
from workflows.engagements.lifecycle import start_engagement
from workflows.services import Services

PG_URL = os.environ.get("BATON_TEST_DATABASE_URL", "")
ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def drop_everything(engine: Engine) -> None:
    """Drop every table of the database, the migration history included (PostgreSQL tests)."""
    everything = MetaData()
    everything.reflect(engine)
    everything.drop_all(engine)


@pytest.fixture(scope="session")
def _postgres_schema() -> None:
    """On PostgreSQL, once per session: a schema built from scratch by the migrations."""
    if PG_URL:
        db = Database(PG_URL, migrations=MIGRATIONS)
        drop_everything(db.engine)
        db.create_all()
        db.dispose()


@pytest.fixture
def database_url(tmp_path: Path, _postgres_schema: None) -> Iterator[str]:
    """A database URL whose tables are empty (SQLite: no tables at all yet)."""
    if PG_URL:
        db = Database(PG_URL, migrations=MIGRATIONS)
        db.create_all()  # a no-op unless a test dropped the schema
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.dispose()
        yield PG_URL
    else:
        yield f"sqlite:///{tmp_path / 'baton.sqlite3'}"


@pytest.fixture
def clock() -> FakeClock:
    """Tuesday 1 December 2026, 10:00 in London (a working day)."""
    return FakeClock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))


@pytest.fixture
def services(database_url: str, clock: FakeClock) -> Iterator[Services]:
    """Baton's services on an empty store."""
    svc = build_services(
        database_url, definitions_dir=ROOT / "definitions", clock=clock, verify_persistence=True
    )
    svc.db.create_all()
    yield svc
    svc.db.dispose()


@pytest.fixture
def deployed(services: Services) -> Services:
    """Services with the definitions folder deployed and the demo agency's people.

    ana and alex are account managers, pete and priya project managers, rita a resource
    manager, olga an ops lead, lee in leadership and adam an admin (see workflows.demo.seed).
    """
    with services.db.unit_of_work() as session:
        install_definitions(session, services, note="test setup")
        seed_users(session, services)
    return services


@pytest.fixture
def spiff_clock(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """SpiffWorkflow's timers read the same fake clock as Baton (no test sleeps)."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock.now.astimezone(tz or UTC)

    monkeypatch.setattr(spiff_timer, "datetime", FrozenDatetime)
    return clock


@pytest.fixture
def app(deployed: Services, database_url: str) -> Any:
    """The Flask app on the deployed services (a module needing more overrides this)."""
    return make_app(deployed, database_url)


@pytest.fixture
def client(app: Any) -> Any:
    """A visitor to the app, not logged in."""
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    """The app's command-line runner."""
    return app.test_cli_runner()


def open_engagement(services: Services, *, process: str = "engagement", **options: Any) -> int:
    """Start an engagement for Acme run by ana (AM) and pete (PM); returns its id."""
    with services.db.unit_of_work() as session:
        return start_engagement(
            session,
            services,
            client="Acme",
            name="Summer launch",
            process_id=process,
            options=options,
            actor="olga",
            account_manager="ana",
            project_manager="pete",
        ).id


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, shared by the browser tests of the run."""
    from tests.browser_support import CHROMIUM_ARGS

    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The test module's `app` fixture served on a real local port."""
    from tests.browser_support import serving

    with serving(app) as url:
        yield url
