"""An engagement's options are checked against the schema its definition declares, role by role.

The account manager may not choose the change-order approval policy; the ops lead may, within
the schema's bounds; nothing is left behind by a refusal. Real HTTP through the Flask app with
personal tokens, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import pytest
from flask import Flask

from tests.api_support import Caller, caller, problem_of
from workflows.services import Services

NEW = {"client": "Acme", "name": "Rebrand", "account_manager": "ana", "project_manager": "pete"}


@pytest.fixture
def ana(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "ana")


@pytest.fixture
def olga(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "olga")


def started(who: Caller, options: dict[str, object], **more: object) -> object:
    return who.post("/api/v1/engagements", json={**NEW, **more, "options": options})


def test_an_am_cannot_set_the_approval_policy(ana: Caller) -> None:
    for options in (
        {"change_order_approval_threshold": 1e18},
        {"change_order_approvers": [], "change_order_quorum": 0},
    ):
        refused = problem_of(started(ana, options), 403)
        assert refused["detail"].startswith("ana may not set the option change_order_")
        assert refused["detail"].endswith("only ops leads and leadership may")
    assert started(ana, {"pm_joins_scoping": True, "budget_alert_ratio": 0.8}).status_code == 201
    assert len(ana.get("/api/v1/engagements").get_json()["items"]) == 1  # the refused left nothing


def test_the_ops_lead_sets_it_within_the_schemas_bounds(olga: Caller) -> None:
    refused = problem_of(started(olga, {"change_order_approvers": [], "change_order_quorum": 0}), 422)
    assert refused["type"].endswith("problem-invalid-form")
    assert [e["pointer"] for e in refused["errors"]] == [
        "/options/change_order_approvers",
        "/options/change_order_quorum",
    ]
    huge = problem_of(started(olga, {"change_order_approval_threshold": 1e18}), 422)
    assert huge["errors"][0]["pointer"] == "/options/change_order_approval_threshold"
    unknown = problem_of(started(olga, {"skip_qc": True}), 422)
    assert "skip_qc" in unknown["errors"][0]["detail"]
    assert olga.get("/api/v1/engagements").get_json()["items"] == []

    policy = {"change_order_approvers": ["leadership", "ops_lead"], "change_order_quorum": 1}
    done = started(olga, {**policy, "change_order_approval_threshold": 20000})
    assert done.status_code == 201
    assert done.get_json()["options"] == {**policy, "change_order_approval_threshold": 20000}


def test_each_definition_has_its_own_options(olga: Caller) -> None:
    wrong = problem_of(started(olga, {"pm_joins_scoping": True}, process_id="fast_track"), 422)
    assert "pm_joins_scoping" in wrong["errors"][0]["detail"]
    negative = problem_of(started(olga, {"budget": -5}, process_id="fast_track"), 422)
    assert negative["errors"][0]["pointer"] == "/options/budget"
    assert started(olga, {"budget": 5000}, process_id="fast_track").status_code == 201


def test_oversized_options_are_refused_with_413(olga: Caller) -> None:
    blob = {"budget_alert_ratio": 0.5, "pm_joins_scoping": True, "note": "x" * 100_000}
    refused = problem_of(started(olga, blob), 413)
    assert refused["type"].endswith("problem-too-large") and "the options" in refused["detail"]
    assert olga.get("/api/v1/engagements").get_json()["items"] == []
