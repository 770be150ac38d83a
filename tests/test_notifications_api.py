"""People read their notifications over the API, mark one or all read, and never see another's."""

from __future__ import annotations

from flask import Flask

from tests.api_support import caller, problem_of, start
from workflows.services import Services


def test_ana_reads_her_new_task_notifications_and_marks_them_read(app: Flask, deployed: Services) -> None:
    first, second = start(deployed, client="Acme"), start(deployed, client="Globex")
    ana = caller(app, deployed, "ana")

    listed = ana.get("/api/v1/me/notifications")
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["unread"] == 2
    assert [(n["kind"], n["engagement_id"], n["title"]) for n in body["items"]] == [
        ("assigned", second, "Prepare pitch"),
        ("assigned", first, "Prepare pitch"),
    ]
    assert body["items"][0]["link"] == f"/engagements/{second}" and body["items"][0]["read_at"] is None
    assert [n["client"] for n in body["items"]] == ["Globex", "Acme"]  # which engagement, at a glance
    assert body["items"][0]["engagement_name"]

    newest = body["items"][0]["id"]
    read = ana.post(f"/api/v1/me/notifications/{newest}/read")
    assert read.status_code == 200 and read.get_json()["read_at"] is not None
    assert ana.get("/api/v1/me/notifications").get_json()["unread"] == 1
    everything = ana.get("/api/v1/me/notifications?include_read=true").get_json()["items"]
    assert [n["id"] for n in everything][-1] == newest  # the read one comes last

    all_read = ana.post("/api/v1/me/notifications/read-all")
    assert all_read.get_json() == {"marked": 1, "unread": 0}
    assert ana.get("/api/v1/me/notifications").get_json() == {"items": [], "unread": 0}


def test_pete_cannot_mark_anas_notification_and_bad_ids_are_not_found(app: Flask, deployed: Services) -> None:
    start(deployed)
    ana, pete = caller(app, deployed, "ana"), caller(app, deployed, "pete")
    [note] = ana.get("/api/v1/me/notifications").get_json()["items"]

    refused = problem_of(pete.post(f"/api/v1/me/notifications/{note['id']}/read"), 403)
    assert "is not pete's" in refused["detail"]
    assert ana.get("/api/v1/me/notifications").get_json()["unread"] == 1  # still unread
    problem_of(ana.post("/api/v1/me/notifications/999999/read"), 404)
    problem_of(ana.get("/api/v1/me/notifications?limit=0"), 422)
    problem_of(app.test_client().get("/api/v1/me/notifications"), 401)
