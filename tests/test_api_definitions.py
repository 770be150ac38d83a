"""The ops lead checks and deploys process definitions over the API; everyone reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from engine.definitions import read_forms_dir
from tests.api_support import Caller, caller, problem_of
from workflows.services import Services

DEFINITIONS = Path(__file__).resolve().parent.parent / "definitions"
FAST_TRACK = (DEFINITIONS / "fast_track.bpmn").read_text(encoding="utf-8")
# a new version: the quality check gets a longer SLA
SLOWER_QC = FAST_TRACK.replace('value="4bh"', 'value="6bh"', 1)


@pytest.fixture
def olga(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "olga")


def test_everyone_reads_definitions_their_versions_and_xml(app: Flask, deployed: Services) -> None:
    pete = caller(app, deployed, "pete")
    listed = pete.get("/api/v1/definitions").get_json()
    assert [(d["process_id"], d["version"]) for d in listed] == [("engagement", 1), ("fast_track", 1)]
    assert "qc_check.schema.json" in listed[1]["forms"]
    versions = pete.get("/api/v1/definitions/fast_track/versions").get_json()
    assert [v["version"] for v in versions] == [1]
    one = pete.get("/api/v1/definitions/fast_track/versions/1").get_json()
    assert one["name"] == "Fast-track job" and one["content_hash"] == listed[1]["content_hash"]
    xml = pete.get("/api/v1/definitions/fast_track/versions/1/bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert xml.get_data(as_text=True) == FAST_TRACK
    problem_of(pete.get("/api/v1/definitions/fast_track/versions/2"), 404)
    problem_of(pete.get("/api/v1/definitions/nothing/versions"), 404)


def test_the_ops_lead_validates_without_deploying(olga: Caller) -> None:
    good = olga.post("/api/v1/definitions/validate", json={"bpmn": SLOWER_QC})
    assert good.status_code == 200 and good.get_json() == {"valid": True, "issues": []}

    bad_sla = SLOWER_QC.replace('value="6bh"', 'value="soon"')
    checked = olga.post("/api/v1/definitions/validate", json={"bpmn": bad_sla}).get_json()
    assert checked["valid"] is False
    assert checked["issues"] == [
        {
            "element": "qc_check",
            "name": "Check quality",
            "code": "sla",
            "message": "'soon' is not a business-time SLA (expected e.g. '4bh' or '2bd')",
            "hint": "select the step and give it an SLA in business time, e.g. 4bh or 2bd",
        }
    ]

    forms = read_forms_dir(DEFINITIONS / "forms")
    forms.pop("qc_check.schema.json")
    missing = olga.post("/api/v1/definitions/validate", json={"bpmn": SLOWER_QC, "forms": forms}).get_json()
    assert missing["valid"] is False and "qc_check.schema.json" in str(missing["issues"])
    assert len(olga.get("/api/v1/definitions/fast_track/versions").get_json()) == 1  # nothing deployed


def test_the_ops_lead_deploys_a_new_version_once(olga: Caller) -> None:
    deployed = olga.post("/api/v1/definitions", json={"bpmn": SLOWER_QC, "note": "QC takes longer"})
    assert deployed.status_code == 201
    body = deployed.get_json()
    assert body["created"] is True
    assert body["definition"]["version"] == 2 and body["definition"]["deployed_by"] == "olga"
    assert body["definition"]["note"] == "QC takes longer"

    same = olga.post("/api/v1/definitions", json={"bpmn": SLOWER_QC, "note": "again"})
    assert same.status_code == 200 and same.get_json()["created"] is False
    assert same.get_json()["definition"]["version"] == 2

    broken = problem_of(
        olga.post("/api/v1/definitions", json={"bpmn": SLOWER_QC.replace("</bpmn:process>", "")}), 422
    )
    assert broken["type"].endswith("problem-invalid-definition") and broken["errors"]
    assert broken["errors"][0]["location"] == "bpmn"
    assert [v["version"] for v in olga.get("/api/v1/definitions/fast_track/versions").get_json()] == [2, 1]


def test_only_ops_leads_validate_or_deploy(app: Flask, deployed: Services) -> None:
    for username in ("ana", "pete", "lee", "adam"):
        who = caller(app, deployed, username)
        refused = problem_of(who.post("/api/v1/definitions", json={"bpmn": SLOWER_QC}), 403)
        assert refused["detail"] == f"{username} may not deploy definitions: only ops leads may"
        problem_of(who.post("/api/v1/definitions/validate", json={"bpmn": SLOWER_QC}), 403)


def test_hostile_xml_is_refused_not_parsed(olga: Caller) -> None:
    xxe = FAST_TRACK.replace(
        "<bpmn:definitions ", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<bpmn:definitions ', 1
    )
    refused = problem_of(olga.post("/api/v1/definitions", json={"bpmn": xxe}), 422)
    assert "DOCTYPE" in refused["errors"][0]["detail"] or "doctype" in refused["errors"][0]["detail"].lower()
