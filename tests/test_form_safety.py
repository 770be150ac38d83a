"""A form can neither make the server fetch something nor stall it with a pattern.

An ops lead deploys through the real API; a listener the test starts on 127.0.0.1 counts every
request the server would make on a ``$ref``. Old versions deployed before the rules (their forms
written straight into the store) are completed too: nothing is fetched then either.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.models import DefinitionVersion
from tests.api_support import ROOT, Caller, caller, problem_of
from tests.conftest import open_engagement
from workflows.services import Services

FAST_TRACK = (ROOT / "definitions" / "fast_track.bpmn").read_text(encoding="utf-8")
FORMS = {
    p.name: json.loads(p.read_text(encoding="utf-8")) for p in (ROOT / "definitions" / "forms").glob("*.json")
}


class Listener:
    """An HTTP server on a free local port that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                body = json.dumps({"type": "string", "leaked": "from the listener"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.json"
    path.write_text(json.dumps({"type": "string", "description": "TOP-SECRET-1234"}), encoding="utf-8")
    return path


@pytest.fixture
def olga(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "olga")


def brief_with(field: dict[str, Any]) -> dict[str, Any]:
    """The forms of fast_track, brief_write's objectives field replaced by `field`."""
    brief = json.loads(json.dumps(FORMS["brief_write.schema.json"]))
    brief["properties"]["objectives"] = field
    return {**FORMS, "brief_write.schema.json": brief}


def deploy(olga: Caller, forms: dict[str, Any]) -> Any:
    bpmn = FAST_TRACK.replace('value="4bh"', 'value="7bh"', 1)  # a new version
    return olga.post(
        "/api/v1/definitions", json={"bpmn": bpmn, "forms": forms, "filename": "fast_track.bpmn"}
    )


def plant_old_form(services: Services, field: dict[str, Any]) -> None:
    """Write brief_write's form of the deployed fast_track as a version made before the rules."""
    with services.db.unit_of_work() as session:
        row = session.scalars(
            select(DefinitionVersion).where(DefinitionVersion.process_id == "fast_track")
        ).one()
        row.forms = brief_with(field)
    services.runtime.definitions.clear_caches()


def complete_brief(app: Flask, services: Services, data: dict[str, Any]) -> Any:
    engagement = open_engagement(services, process="fast_track")
    pete = caller(app, services, "pete")
    url = f"/api/v1/engagements/{engagement}/tasks/brief_write"
    etag = pete.get(url).headers["ETag"]
    return pete.post(f"{url}/complete", json={"data": data}, headers={"If-Match": etag})


BRIEF = {"objectives": "grow", "audience": "all", "key_messages": ["fresh"], "constraints": "none"}


def test_a_remote_ref_is_refused_at_deploy_and_never_fetched(olga: Caller, listener: Listener) -> None:
    ref = {"$ref": f"{listener.url}/healthz?ssrf=1"}
    for url in ("/api/v1/definitions/validate", "/api/v1/definitions"):
        bpmn = FAST_TRACK.replace('value="4bh"', 'value="7bh"', 1)
        refused = olga.post(url, json={"bpmn": bpmn, "forms": brief_with(ref)})
        if url.endswith("validate"):
            body = refused.get_json()
            assert body["valid"] is False
            messages = " ".join(issue["message"] for issue in body["issues"])
        else:
            body = problem_of(refused, 422)
            messages = json.dumps(body)
        assert "points outside the form" in messages and "never fetches" in messages
    assert listener.requests == []


def test_a_file_ref_is_refused_and_its_content_never_shown(olga: Caller, secret_file: Path) -> None:
    refused = deploy(olga, brief_with({"$ref": secret_file.as_uri()}))
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "points outside the form" in text
    assert "TOP-SECRET" not in text


def test_completing_a_form_of_an_old_version_fetches_nothing(
    app: Flask, deployed: Services, listener: Listener, secret_file: Path
) -> None:
    for field in ({"$ref": f"{listener.url}/x.json"}, {"$ref": secret_file.as_uri()}):
        plant_old_form(deployed, field)
        done = complete_brief(app, deployed, BRIEF)
        body = problem_of(done, 422)
        assert "never fetches" in json.dumps(body)
        assert "TOP-SECRET" not in done.get_data(as_text=True)
    assert listener.requests == []


def test_a_pattern_that_backtracks_is_refused_at_deploy(olga: Caller) -> None:
    refused = deploy(olga, brief_with({"type": "string", "pattern": "^(a|aa)+\\1$"}))
    body = problem_of(refused, 422)
    assert "cannot be checked in linear time" in json.dumps(body)


def test_a_nested_quantifier_pattern_is_checked_in_linear_time(app: Flask, deployed: Services) -> None:
    plant_old_form(deployed, {"type": "string", "pattern": "^(a+)+$"})  # ~3 s at 26 characters in `re`
    health: list[float] = []
    answered = threading.Event()

    def poll() -> None:
        client = app.test_client()
        while not answered.is_set():
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            health.append(time.perf_counter() - started)
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        started = time.perf_counter()
        done = complete_brief(app, deployed, {**BRIEF, "objectives": "a" * 5000 + "b"})
        took = time.perf_counter() - started
    finally:
        answered.set()
        poller.join()
    body = problem_of(done, 422)
    assert [e["pointer"] for e in body["errors"]] == ["/data/objectives"]
    assert "does not match '^(a+)+$'" in body["errors"][0]["detail"]
    assert took < 3.0, f"the completion took {took:.2f} s"
    assert health and max(health) < 1.0, f"a health check waited {max(health):.2f} s"
