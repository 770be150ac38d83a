"""The API describes itself (OpenAPI 3) and answers every error with one problem format."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.api_support import Caller, caller, problem_of
from workflows.services import Services


@pytest.fixture
def ana(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "ana")


def test_the_openapi_document_covers_every_api_route(app: Flask) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "Baton"
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    routed = {
        (method, rule.rule.replace("<", "{").replace(">", "}"))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    normalise = {  # converters: <id:x> and <int(max=..):x> are {x} in OpenAPI
        (m, _plain(p)) for m, p in routed
    }
    assert normalise == documented
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "sessionCookie"}
    assert "Problem" in spec["components"]["schemas"]
    complete = spec["paths"]["/api/v1/engagements/{engagement_id}/tasks/{task_ref}/complete"]["post"]
    assert {"412", "422", "409", "403"} <= set(complete["responses"])
    assert complete["responses"]["412"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "Problem"
    )
    assert any(p["name"] == "If-Match" for p in complete["parameters"])


def _plain(path: str) -> str:
    import re

    return re.sub(r"\{[^}:]*:([^}]*)\}", r"{\1}", path)


def test_the_docs_page_lists_operations_schemas_and_problems(app: Flask) -> None:
    html = app.test_client().get("/api/docs").get_data(as_text=True)
    assert "/api/v1/engagements/{engagement_id}/tasks/{task_ref}/complete" in html
    assert 'id="schema-Problem"' in html and 'id="problem-stale-version"' in html
    assert "<script" not in html  # no CDN, no script: it renders under the strict CSP


def test_errors_are_problems_with_the_right_status(ana: Caller) -> None:
    assert problem_of(ana.get("/api/v1/nothing-here"), 404)["type"].endswith("problem-not-found")
    method = ana.delete("/api/v1/tasks")
    problem_of(method, 405)
    assert method.headers["Allow"]
    bad_json = ana.post("/api/v1/engagements", data="{not json", content_type="application/json")
    assert problem_of(bad_json, 400)["detail"] == "Invalid JSON body."
    unknown = problem_of(
        ana.post("/api/v1/engagements", json={"client": "A", "name": "B", "colour": "red"}), 422
    )
    assert unknown["errors"] == [{"pointer": "/colour", "location": "json", "detail": "Unknown field."}]
    problem_of(ana.get("/api/v1/users/a%00b"), 400)
    nul = problem_of(ana.post("/api/v1/engagements", json={"client": "A\x00", "name": "B"}), 422)
    assert nul["errors"][0]["pointer"] == "/client"
    too_long = problem_of(ana.post("/api/v1/engagements", json={"client": "A" * 201, "name": "B"}), 422)
    assert too_long["errors"][0]["pointer"] == "/client"


def test_pages_keep_html_error_pages(app: Flask) -> None:
    missing = app.test_client().get("/no-such-page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
