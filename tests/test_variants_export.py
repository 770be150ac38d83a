"""Where engagements really go: the variants report, and the event log exported as XES and OCEL 2.0.

Three engagements finish on the agency calendar (weekdays 09:00-17:30, London = UTC in December):

    Acme "Summer launch"   tests/test_reports.py's walk (brief sent back once, QC failed once),
                           then feedback, process review and growth review an hour apart:
                           Tue 1 Dec 10:00 -> Fri 4 Dec 13:30 = 7.5 + 8.5 + 8.5 + 4.5 = 29 bh
    Beta "Spring promo"    the happy path, one step an hour from Mon 7 Dec 09:00:
                           13 steps -> Tue 8 Dec 13:30 = 8.5 + 4.5 = 13 bh
    Corp "Autumn film"     the happy path, two hours a step from Wed 9 Dec 09:00:
                           26 bh -> Wed, Thu, Fri 8.5 each, Mon 14 Dec 09:30 (0.5) = 26 bh

So the happy path is taken twice (median 19.5 bh, range 13-26) and Acme's path once (29 bh).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import func, select

from engine.models import Event
from tests.api_support import caller, make_app
from tests.conftest import FakeClock
from tests.test_cli import Baton, err, ok
from tests.test_reports import TEAM, WALK, _open, _start
from workflows.demo import samples as S
from workflows.engagements.tasks import complete_task
from workflows.reports.eventlog import export_event_log
from workflows.reports.process import ReportFilter
from workflows.reports.registry import report_rows
from workflows.services import Services

XSD = Path(__file__).parent / "data" / "xes" / "xes-ieee-1849-2016.xsd"
FINISH = [
    ("client_feedback", S.client_feedback("approved")),
    ("process_review", S.process_review()),
    ("growth_review", S.growth_review()),
]
HAPPY = [(s.task, s.data) for s in S.happy_path_steps()]


def _do(services: Services, engagement: int, step: str, data: dict[str, object]) -> None:
    task = _open(services, engagement, step)
    with services.db.unit_of_work() as session:
        complete_task(
            session, services, engagement, task.task_id, data, actor=TEAM.get(task.lane or "", "lee")
        )


def _walk_hourly(services: Services, clock: FakeClock, engagement: int, steps: list, every: float) -> None:
    for step, data in steps:
        clock.now = services.calendar.add_hours(clock.now, every)
        _do(services, engagement, step, data)


@pytest.fixture
def finished(deployed: Services, clock: FakeClock) -> dict[str, int]:
    acme = _start(deployed, "Acme", "Summer launch")
    for step, data, when in WALK:
        clock.now = when
        _do(deployed, acme, step, data)
    _walk_hourly(deployed, clock, acme, FINISH, 1)
    clock.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    beta = _start(deployed, "Beta", "Spring promo")
    _walk_hourly(deployed, clock, beta, HAPPY, 1)
    clock.now = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    corp = _start(deployed, "Corp", "Autumn film")
    _walk_hourly(deployed, clock, corp, HAPPY, 2)
    clock.now = datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
    return {"acme": acme, "beta": beta, "corp": corp}


def test_variants_count_the_paths_and_their_business_time(
    deployed: Services, finished: dict[str, int]
) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        report = report_rows(session, deployed, "variants", ReportFilter())
    assert [r["key"] for r in report.rows] == ["V1", "V2"]
    happy, acme = report.rows
    assert (happy["engagements"], happy["steps"]) == (2, len(HAPPY))
    assert happy["median_hours"] == pytest.approx(19.5)
    assert (happy["min_hours"], happy["max_hours"]) == (pytest.approx(13.0), pytest.approx(26.0))
    assert happy["share"] == pytest.approx(round(2 / 3, 4))
    assert (acme["engagements"], acme["steps"]) == (1, len(WALK) + len(FINISH))
    assert acme["median_hours"] == pytest.approx(29.0)
    assert (
        "2 finished engagement" not in report.note
        and "3 finished engagement(s) took 2 path(s)" in report.note
    )
    assert " → " in happy["path"] and "brief_write" not in happy["path"]  # step names, not ids
    with deployed.db.unit_of_work(write=False) as session:
        only_acme = report_rows(session, deployed, "variants", ReportFilter(client="acme"))
    assert [r["engagements"] for r in only_acme.rows] == [1]


def _events_expected(deployed: Services) -> int:
    with deployed.db.unit_of_work(write=False) as session:
        return session.scalar(select(func.count()).where(Event.bpmn_id.is_not(None))) or 0


def test_the_xes_export_is_valid_against_the_standard_and_reads_back(
    deployed: Services, finished: dict[str, int]
) -> None:
    seen: list[tuple[int, int]] = []
    chunks = export_event_log(
        deployed, "xes", ReportFilter(), actor="lee", progress=lambda d, t: seen.append((d, t))
    )
    assert not isinstance(chunks, str)  # a generator of chunks, not one string
    text = "".join(chunks)
    document = etree.parse(io.BytesIO(text.encode()))
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(document), schema.error_log
    traces = document.findall("trace")
    names = {t.find("string[@key='concept:name']").get("value"): t for t in traces}
    assert set(names) == {str(i) for i in finished.values()}
    total = _events_expected(deployed)
    assert sum(len(t.findall("event")) for t in traces) == total
    assert seen[-1] == (total, total)
    acme = names[str(finished["acme"])]
    completed = [
        e
        for e in acme.findall("event")
        if e.find("string[@key='lifecycle:transition']").get("value") == "complete"
    ]
    assert len(completed) == len(WALK) + len(FINISH)
    first = completed[0]
    assert first.find("string[@key='step']").get("value") == "pitch_prepare"
    assert first.find("string[@key='concept:name']").get("value") != "pitch_prepare"  # its name
    assert first.find("string[@key='org:resource']").get("value") == "ana"
    stamp = datetime.fromisoformat(first.find("date[@key='time:timestamp']").get("value"))
    assert stamp.utcoffset() == timedelta(0) and stamp == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_ocel_export_links_events_to_engagements_and_clients(
    deployed: Services, finished: dict[str, int]
) -> None:
    log = json.loads("".join(export_event_log(deployed, "ocel", ReportFilter(client="Beta"), actor="olga")))
    objects = {o["id"]: o for o in log["objects"]}
    assert set(objects) == {f"engagement-{finished['beta']}", "client-Beta"}
    assert objects[f"engagement-{finished['beta']}"]["relationships"] == [
        {"objectId": "client-Beta", "qualifier": "for client"}
    ]
    assert {t["name"] for t in log["objectTypes"]} == {"engagement", "client"}
    types = {t["name"] for t in log["eventTypes"]}
    assert all(e["type"] in types for e in log["events"])
    completes = [e for e in log["events"] if {"name": "lifecycle", "value": "complete"} in e["attributes"]]
    assert len(completes) == len(HAPPY)
    for event in log["events"]:
        assert {r["objectId"] for r in event["relationships"]} == {
            f"engagement-{finished['beta']}",
            "client-Beta",
        }
        assert datetime.fromisoformat(event["time"]).utcoffset() == timedelta(0)
    assert datetime.fromisoformat(completes[0]["time"]) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def app(deployed: Services, database_url: str, finished: dict[str, int]) -> Flask:
    return make_app(deployed, database_url)


def test_the_api_streams_both_exports_to_readers_only(app: Flask, deployed: Services) -> None:
    lee = caller(app, deployed, "lee")
    response = lee.get("/api/v1/reports/export.xes?client=corp")
    assert response.status_code == 200 and response.is_streamed
    document = etree.fromstring(response.get_data())
    assert etree.XMLSchema(etree.parse(str(XSD))).validate(etree.ElementTree(document))
    assert len(document.findall("trace")) == 1
    ocel = lee.get("/api/v1/reports/export.ocel.json")
    assert ocel.status_code == 200 and ocel.mimetype == "application/json"
    assert len({o["id"] for o in ocel.get_json()["objects"] if o["type"] == "client"}) == 3
    assert caller(app, deployed, "pete").get("/api/v1/reports/export.xes").status_code == 403
    unknown = lee.get("/api/v1/reports/export.ocel.json?client=Nobody")
    assert unknown.status_code == 422


def test_the_cli_writes_the_exports_to_files(
    deployed: Services, finished: dict[str, int], database_url: str, tmp_path: Path
) -> None:
    baton = Baton(database_url, user="lee")
    target = tmp_path / "log.xes"
    said = ok(baton("export", "xes", str(target)))
    assert f"{_events_expected(deployed):,} event(s) written" in said
    assert etree.XMLSchema(etree.parse(str(XSD))).validate(etree.parse(str(target)))
    ocel = tmp_path / "log.json"
    ok(baton("export", "ocel", str(ocel), "--client", "Acme"))
    assert len([o for o in json.loads(ocel.read_text())["objects"] if o["type"] == "engagement"]) == 1
    refused = Baton(database_url, user="pete")("export", "xes", str(tmp_path / "no.xes"))
    assert refused.exit_code != 0 and "may not read reports" in err(refused)
    assert not (tmp_path / "no.xes").exists()
