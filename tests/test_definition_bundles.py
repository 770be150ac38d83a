"""A definition version is a bundle: a main process, the process it calls, a DMN table and forms.

The ops lead deploys a SpiffArena process-model folder with the command line, or its zip over
the API; the change order runs: the decision table says who approves it (by amount and client
tier), the called process opens the AM's step. The version downloads as a zip that deploys back
as the same version. Run on SQLite and, with BATON_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from flask import Flask

from engine.bundles import read_folder, read_zip
from engine.models import WorkflowInstance
from tests.api_support import caller, problem_of
from tests.test_cli import Baton, ok
from tests.test_diagrams import logged_in
from workflows.definitions.catalog import deploy_folder
from workflows.engagements.lifecycle import get_engagement, start_engagement
from workflows.engagements.tasks import complete_task, find_open_task
from workflows.services import Services

FOLDER = Path(__file__).resolve().parent / "data" / "outside" / "spiffarena_change_order"


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"{folder.name}/{path.name}")
    return buffer.getvalue()


def describe_change_order(services: Services, amount: float, tier: str) -> int:
    """Start a change order and describe it as pete (PM); returns the engagement's id."""
    with services.db.unit_of_work() as session:
        engagement = start_engagement(
            session,
            services,
            actor="olga",
            client="Acme",
            name=f"Extra banners {amount} {tier}",
            process_id="change_order",
            account_manager="ana",
            project_manager="pete",
        )
        complete_task(
            session,
            services,
            engagement.id,
            "describe_change",
            {"amount": amount, "client_tier": tier},
            actor="pete",
        )
        return engagement.id


def test_the_cli_deploys_a_folder_and_it_runs_with_its_table_and_called_process(
    database_url: str, deployed: Services
) -> None:
    baton = Baton(database_url, user="olga")
    printed = ok(baton("definitions", "deploy", str(FOLDER), "--note", "from SpiffArena"))
    assert "deployed change_order v1" in printed
    with deployed.db.unit_of_work() as session:
        row = deployed.definitions.latest(session, "change_order")
        assert sorted(row.files) == ["change_order_approver.dmn", "notify_client.bpmn"]
        assert sorted(row.forms) == ["describe-change-schema.json", "describe-change-uischema.json"]
    engagement_id = describe_change_order(deployed, 8000, "key")
    with deployed.db.unit_of_work() as session:
        call = find_open_task(session, get_engagement(session, engagement_id), "call_client")
        assert call.assignee == "ana" and call.lane == "Account Management"  # the called process's lane
        complete_task(session, deployed, engagement_id, "call_client", {}, actor="ana")
        instance = session.get(WorkflowInstance, get_engagement(session, engagement_id).instance_id)
        assert instance is not None and instance.status == "completed"
    # deployed again: the same bundle is the same version
    assert "unchanged (identical to) change_order v1" in ok(baton("definitions", "deploy", str(FOLDER)))


def test_the_decision_table_chooses_the_approver(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        deploy_folder(session, deployed, FOLDER, actor="olga", note="bundle")
    for amount, tier, approver in (
        (1200, "standard", "project_manager"),
        (8000, "key", "leadership"),
        (8000, "standard", "account_manager"),
    ):
        engagement_id = describe_change_order(deployed, amount, tier)
        with deployed.db.unit_of_work() as session:
            instance = session.get(WorkflowInstance, get_engagement(session, engagement_id).instance_id)
            assert instance is not None and instance.facts is not None
            # the facts the process declares: what the table decided, kept for reports
            assert instance.facts["approver_role"] == approver, (amount, tier)


def test_the_api_takes_a_zip_and_gives_one_back(app: Flask, deployed: Services) -> None:
    olga = caller(app, deployed, "olga")
    uploaded = olga.post(
        "/api/v1/definitions/bundles",
        data={"files": [(io.BytesIO(zipped(FOLDER)), "change_order.zip")], "note": "zip"},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    definition = uploaded.get_json()["definition"]
    assert definition["process_id"] == "change_order"
    assert definition["files"] == ["change_order_approver.dmn", "notify_client.bpmn"]
    download = olga.get("/api/v1/definitions/change_order/versions/1/bundle")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    bundle = read_zip(download.data)
    assert bundle.main == "change_order.bpmn"
    assert set(bundle.dmn) == {"change_order_approver.dmn"} and "notify_client.bpmn" in bundle.bpmn
    assert set(bundle.forms) == set(read_folder(FOLDER).forms)
    again = olga.post(
        "/api/v1/definitions/bundles",
        data={"files": [(io.BytesIO(download.data), "again.zip")]},
        content_type="multipart/form-data",
    )
    assert again.status_code == 200 and again.get_json()["definition"]["version"] == 1
    # the version page offers the same zip to the browser (the login session reads the API)
    page = logged_in(app, deployed, "ana")
    html = page.get("/definitions/change_order/versions/1").get_data(as_text=True)
    assert 'href="/api/v1/definitions/change_order/versions/1/bundle"' in html
    assert page.get("/api/v1/definitions/change_order/versions/1/bundle").data == download.data
    # without its table, the bundle is refused by name
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        for path in sorted(FOLDER.iterdir()):
            if path.suffix != ".dmn":
                archive.write(path, path.name)
    refused = problem_of(
        olga.post(
            "/api/v1/definitions/bundles",
            data={"files": [(io.BytesIO(broken.getvalue()), "no-table.zip")]},
            content_type="multipart/form-data",
        ),
        422,
    )
    assert any("decision 'change_order_approver'" in e["detail"] for e in refused["errors"])
    assert problem_of(
        caller(app, deployed, "ana").post(
            "/api/v1/definitions/bundles",
            data={"files": [(io.BytesIO(zipped(FOLDER)), "x.zip")]},
            content_type="multipart/form-data",
        ),
        403,
    )
