"""Every route of the app, called by every role and by nobody, answers the status it should.

The routes come from the Flask url_map: a route added without an expectation here fails
`test_every_route_has_an_expectation`. Each role is a demo person: olga (ops lead), ana (account
manager), pete (project manager), rita (resource manager), lee (leadership), adam (admin). Pages
are called with a logged-in browser session, the API with the person's token. Changes act on
objects made fresh for each call (an engagement whose pitch task is with ana, a token of
pete's...), so one role's success never changes what the next one meets.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.api_support import ROOT, csrf_from, start, token_for
from workflows.demo import samples as stories
from workflows.demo.seed import seed_users
from workflows.engagements.tasks import claim_task
from workflows.models import Notification
from workflows.people.auth import issue_token
from workflows.people.directory import create_user
from workflows.services import Services

PASSWORD = "permissions walk"
PEOPLE = {
    "ops_lead": "olga",
    "account_manager": "ana",
    "project_manager": "pete",
    "resource_manager": "rita",
    "leadership": "lee",
    "admin": "adam",
}
ROLES = (*PEOPLE, "anonymous")
FAST_TRACK = (ROOT / "definitions" / "fast_track.bpmn").read_text(encoding="utf-8")
SLOWER_QC = FAST_TRACK.replace('value="4bh"', 'value="5bh"', 1)  # a new version to deploy
EVEN_SLOWER_QC = FAST_TRACK.replace('value="4bh"', 'value="6bh"', 1)  # another, from the editor
_names = itertools.count(1)


def everyone(status: int, anonymous: int = 401) -> dict[str, int]:
    """Every role gets `status`; nobody logged in gets `anonymous`."""
    return {**dict.fromkeys(PEOPLE, status), "anonymous": anonymous}


def only(status: int, *roles: str, others: int = 403) -> dict[str, int]:
    """`roles` get `status`, the other roles `others`, nobody logged in 401."""
    return {**{r: status if r in roles else others for r in PEOPLE}, "anonymous": 401}


def editors(status: int) -> dict[str, int]:
    """Ops leads get `status`, the other roles 403, nobody logged in is sent to the login page."""
    return {**only(status, "ops_lead"), "anonymous": 302}


def readers(status: int) -> dict[str, int]:
    """Leadership, ops leads and admins get `status` (they read reports), the other roles 403,
    nobody logged in is sent to the login page.
    """
    return {**only(status, "leadership", "ops_lead", "admin"), "anonymous": 302}


@dataclass(frozen=True)
class Case:
    """A call of one route: its URL (with {placeholders}), body, and the status per role."""

    url: str
    expect: dict[str, int]
    body: Any = None
    fresh: str | None = None  # what each call needs made anew: engagement, claimed, token
    page: bool = False  # a page (session cookie, form post) rather than the API (token, JSON)
    session: bool = False  # an API call made from the logged-in browser (what a token may not do)
    form: dict[str, str] = field(default_factory=dict)


API = "/api/v1"
TASK = API + "/engagements/{engagement}/tasks/pitch_prepare"
# (endpoint, method) -> the case
CASES: dict[tuple[str, str], Case] = {
    # pages
    ("pages.index", "GET"): Case("/", everyone(200, anonymous=302), page=True),
    # diagrams: everyone logged in looks; only ops leads edit, validate and deploy
    ("diagrams.engagement_diagram", "GET"): Case(
        "/engagements/{engagement}/diagram", everyone(200, anonymous=302), page=True
    ),
    ("diagrams.definitions", "GET"): Case("/definitions", everyone(200, anonymous=302), page=True),
    ("diagrams.definition_version", "GET"): Case(
        "/definitions/fast_track/versions/1", everyone(200, anonymous=302), page=True
    ),
    ("diagrams.definition_xml", "GET"): Case(
        "/definitions/fast_track/versions/1.bpmn", everyone(200, anonymous=302), page=True
    ),
    # moving running engagements between versions: ops leads and admins
    ("migration_pages.migrate_page", "GET"): Case(
        "/definitions/fast_track/versions/1/migrate",
        {**only(200, "ops_lead", "admin"), "anonymous": 302},
        page=True,
    ),
    ("migration_pages.migrate_batch", "POST"): Case(
        "/definitions/fast_track/versions/1/migrate",
        {**only(200, "ops_lead", "admin"), "anonymous": 302},
        page=True,
        form={"note": "permissions walk"},
    ),
    ("diagrams.new_definition", "GET"): Case(
        "/definitions/new?process_id=brand_new", editors(302), page=True
    ),
    ("diagrams.edit_definition", "GET"): Case("/definitions/fast_track/edit", editors(200), page=True),
    ("diagrams.definition_source", "GET"): Case("/definitions/fast_track/source", editors(200), page=True),
    ("diagrams.validate_xml", "POST"): Case(
        "/definitions/validate", editors(200), page=True, body={"xml": "{fast_track}"}
    ),
    ("diagrams.deploy_xml", "POST"): Case(
        "/definitions/deploy", editors(201), page=True, body={"xml": "{even_slower_qc}", "note": "slower QC"}
    ),
    # a comparison shows nothing the version pages do not: everyone logged in reads it
    ("diagrams.compare_definition", "GET"): Case(
        "/definitions/fast_track/compare?a=1&b=1", everyone(200, anonymous=302), page=True
    ),
    # "Open file…" without a file: the ops lead is told to choose one, the others may not
    ("definition_files.open_definition_files", "POST"): Case("/definitions/open", editors(400), page=True),
    ("diagrams.preview_form", "POST"): Case(
        "/definitions/forms/preview",
        editors(200),
        page=True,
        body={"schema": {"type": "object", "properties": {"budget": {"type": "number", "title": "Budget"}}}},
    ),
    ("pages.engagements", "GET"): Case("/engagements", everyone(200, anonymous=302), page=True),
    ("pages.new_engagement", "GET"): Case(
        "/engagements/new", {**only(200, "account_manager", "ops_lead", "admin"), "anonymous": 302}, page=True
    ),
    ("pages.start_engagement", "POST"): Case(
        "/engagements/new",
        {**only(302, "account_manager", "ops_lead", "admin"), "anonymous": 302},
        page=True,
        form={"client": "Acme", "name": "Rebrand", "account_manager": "ana", "project_manager": "pete"},
    ),
    ("inbox.inbox", "GET"): Case("/inbox?stage=pitch", everyone(200, anonymous=302), page=True),
    ("inbox.notifications", "GET"): Case("/notifications", everyone(200, anonymous=302), page=True),
    # ana's first notification (her pitch task): only she may mark it read; to others it does not exist
    ("inbox.notification_read", "POST"): Case(
        "/notifications/{note}/read",
        {**only(302, "account_manager", others=404), "anonymous": 302},
        page=True,
        fresh="note",
    ),
    ("inbox.notifications_read_all", "POST"): Case(
        "/notifications/read-all", everyone(302, anonymous=302), page=True
    ),
    # the task page: everyone looks; only who may work the task claims, completes, logs effort
    ("task_pages.task", "GET"): Case(
        "/engagements/{engagement}/tasks/pitch_prepare", everyone(200, anonymous=302), page=True
    ),
    ("task_pages.claim", "POST"): Case(
        "/engagements/{engagement}/tasks/pitch_prepare/claim",
        {**only(302, "account_manager"), "anonymous": 302},
        page=True,
        fresh="engagement",
    ),
    ("task_pages.unclaim", "POST"): Case(
        "/engagements/{engagement}/tasks/pitch_prepare/unclaim",
        {**only(302, "account_manager", "ops_lead", "admin"), "anonymous": 302},
        page=True,
        fresh="claimed",
    ),
    ("task_pages.complete", "POST"): Case(
        "/engagements/{engagement}/tasks/pitch_prepare/complete",
        {**only(302, "account_manager"), "anonymous": 302},
        page=True,
        fresh="engagement",
        form={
            "pitch_summary": "A bold rebrand",
            "pitch_date": "2026-12-10",
            "pitch_team/0": "ana",
            "estimated_value": "25000",
        },
    ),
    ("task_pages.effort", "POST"): Case(
        "/engagements/{engagement}/tasks/pitch_prepare/effort",
        {**only(302, "account_manager"), "anonymous": 302},
        page=True,
        fresh="engagement",
        form={"hours": "1.5", "note": "drafting"},
    ),
    ("pages.engagement", "GET"): Case("/engagements/{engagement}", everyone(200, anonymous=302), page=True),
    ("pages.healthz", "GET"): Case("/healthz", everyone(200, anonymous=200), page=True),
    # running the agency: people (admins), my account (everyone), lanes and cover, operations,
    # the workload board, the audit log
    ("people.directory", "GET"): Case(
        "/people?q=a&role=account_manager", everyone(200, anonymous=302), page=True
    ),
    ("people.new_person", "GET"): Case("/people/new", {**only(200, "admin"), "anonymous": 302}, page=True),
    ("people.add_person", "POST"): Case(
        "/people/new",
        {**only(302, "admin"), "anonymous": 302},
        page=True,
        form={"username": "{new_user}", "name": "New Comer", "roles": "project_manager"},
    ),
    ("people.edit", "GET"): Case("/people/rita", {**only(200, "admin"), "anonymous": 302}, page=True),
    ("people.save", "POST"): Case(
        "/people/rita",
        {**only(302, "admin"), "anonymous": 302},
        page=True,
        form={"name": "Rita Okafor", "roles": "resource_manager", "weekly_capacity_hours": "35"},
    ),
    ("people.activation", "POST"): Case(
        "/people/{person}/activation",
        {**only(302, "admin"), "anonymous": 302},
        page=True,
        fresh="person",
        form={"active": "0"},
    ),
    ("people.reset_password", "POST"): Case(
        "/people/{person}/password",
        {**only(302, "admin"), "anonymous": 302},
        page=True,
        fresh="person",
        form={"password": "a new password", "confirm": "a new password"},
    ),
    ("people.revoke", "POST"): Case(
        "/people/pete/tokens/{token}/revoke",
        {**only(302, "admin", "project_manager", others=404), "anonymous": 302},
        page=True,
        fresh="token",
    ),
    ("account.account", "GET"): Case("/account", everyone(200, anonymous=302), page=True),
    # a new password would end the walk's sessions: the two differ, and every caller is told so
    ("account.password", "POST"): Case(
        "/account/password",
        everyone(422, anonymous=302),
        page=True,
        form={"current": "{password}", "password": "a new password", "confirm": "another one"},
    ),
    ("account.preferences", "POST"): Case(
        "/account/preferences", everyone(302, anonymous=302), page=True, form={"notify_in_app": "on"}
    ),
    ("account.issue", "POST"): Case(
        "/account/tokens", everyone(200, anonymous=302), page=True, form={"name": "walk"}
    ),
    ("account.revoke", "POST"): Case(
        "/account/tokens/{token}/revoke",
        {**only(302, "admin", "project_manager", others=404), "anonymous": 302},
        page=True,
        fresh="token",
    ),
    ("lanes.lanes", "GET"): Case("/lanes", everyone(200, anonymous=302), page=True),
    ("lanes.leads", "POST"): Case(
        "/lanes/leads",
        {**only(302, "ops_lead", "admin"), "anonymous": 302},
        page=True,
        form={"username": "ana", "role": "account_manager", "lead": "0"},
    ),
    ("lanes.cover", "POST"): Case(
        "/lanes/cover",
        everyone(302, anonymous=302),
        page=True,
        form={"by": "priya", "from": "2026-12-21", "to": "2026-12-22"},
    ),
    ("engagement_ops.team", "POST"): Case(
        "/engagements/{engagement}/team",
        {**only(302, "ops_lead", "admin"), "anonymous": 302},
        page=True,
        fresh="engagement",
        form={"account_manager": "alex", "reason": "ana is on leave"},
    ),
    ("engagement_ops.reassign", "POST"): Case(
        "/engagements/{engagement}/tasks/pitch_prepare/reassign",
        {**only(302, "ops_lead", "admin"), "anonymous": 302},
        page=True,
        fresh="engagement",
        form={"assignee": "alex", "reason": "ana is on leave"},
    ),
    ("engagement_ops.release", "POST"): Case(
        "/engagements/{engagement}/tasks/pitch_prepare/release",
        {**only(302, "account_manager", "ops_lead", "admin"), "anonymous": 302},
        page=True,
        fresh="claimed",
    ),
    ("engagement_ops.cancel", "POST"): Case(
        "/engagements/{engagement}/cancel",
        {**only(302, "ops_lead", "admin"), "anonymous": 302},
        page=True,
        fresh="engagement",
        form={"reason": "client paused"},
    ),
    ("workload.board", "GET"): Case(
        "/workload", {**only(200, "ops_lead", "resource_manager", "admin"), "anonymous": 302}, page=True
    ),
    ("audit.log", "GET"): Case("/audit?action=login", {**only(200, "admin"), "anonymous": 302}, page=True),
    ("audit.export", "GET"): Case("/audit.csv", {**only(200, "admin"), "anonymous": 302}, page=True),
    ("static", "GET"): Case("/static/baton.css", everyone(200, anonymous=200), page=True),
    ("auth.login", "GET"): Case("/login", everyone(302, anonymous=200), page=True),
    ("auth.login", "POST"): Case(
        "/login", everyone(302, anonymous=401), page=True, form={"username": "{me}", "password": "{password}"}
    ),
    ("auth.logout", "POST"): Case("/logout", everyone(302, anonymous=302), page=True, fresh="session"),
    ("api-docs.openapi_json", "GET"): Case("/api/openapi.json", everyone(200, anonymous=200)),
    ("api_docs.page", "GET"): Case("/api/docs", everyone(200, anonymous=200)),
    # definitions
    ("definitions.index", "GET"): Case(API + "/definitions", everyone(200)),
    ("definitions.versions", "GET"): Case(API + "/definitions/fast_track/versions", everyone(200)),
    ("definitions.version", "GET"): Case(API + "/definitions/fast_track/versions/1", everyone(200)),
    ("definitions.bpmn", "GET"): Case(API + "/definitions/fast_track/versions/1/bpmn", everyone(200)),
    ("definitions.bundle", "GET"): Case(API + "/definitions/fast_track/versions/1/bundle", everyone(200)),
    # a bundle without files: the ops lead is told it holds no BPMN file
    ("definitions.deploy_bundle_files", "POST"): Case(API + "/definitions/bundles", only(400, "ops_lead")),
    ("definitions.validate", "POST"): Case(
        API + "/definitions/validate", only(200, "ops_lead"), body={"bpmn": "{fast_track}"}
    ),
    ("definitions.deploy", "POST"): Case(
        API + "/definitions", only(201, "ops_lead"), body={"bpmn": "{slower_qc}"}
    ),
    ("migration.dry_run", "GET"): Case(
        API + "/definitions/fast_track/versions/1/migration", only(200, "ops_lead", "admin")
    ),
    ("migration.batch", "POST"): Case(
        API + "/definitions/fast_track/versions/1/migration",
        only(200, "ops_lead", "admin"),
        body={"engagements": [], "note": "permissions walk"},
    ),
    # engagements
    ("engagements.index", "GET"): Case(API + "/engagements", everyone(200)),
    ("engagements.start", "POST"): Case(
        API + "/engagements",
        only(201, "account_manager", "ops_lead", "admin"),
        body={"client": "Acme", "name": "Rebrand", "account_manager": "ana", "project_manager": "pete"},
    ),
    ("engagements.show", "GET"): Case(API + "/engagements/{engagement}", everyone(200)),
    ("engagements.change_team", "PATCH"): Case(
        API + "/engagements/{engagement}/team",
        only(200, "ops_lead", "admin"),
        body={"project_manager": "priya"},
        fresh="engagement",
    ),
    ("engagements.cancel", "POST"): Case(
        API + "/engagements/{engagement}/cancel",
        only(200, "ops_lead", "admin"),
        body={"reason": "client paused"},
        fresh="engagement",
    ),
    # tasks
    ("tasks.index", "GET"): Case(API + "/tasks?view=lanes", everyone(200)),
    ("tasks.show", "GET"): Case(TASK, everyone(200)),
    ("tasks.claim", "POST"): Case(TASK + "/claim", only(200, "account_manager"), fresh="engagement"),
    # ana holds the claim: she, an ops lead or an admin may release it
    ("tasks.unclaim", "DELETE"): Case(
        TASK + "/claim", only(200, "account_manager", "ops_lead", "admin"), fresh="claimed"
    ),
    ("tasks.reassign", "POST"): Case(
        TASK + "/reassign", only(200, "ops_lead", "admin"), body={"assignee": "alex"}, fresh="engagement"
    ),
    ("tasks.complete", "POST"): Case(
        TASK + "/complete", only(200, "account_manager"), body={"data": "{pitch_prepare}"}, fresh="engagement"
    ),
    ("tasks.effort", "POST"): Case(
        TASK + "/effort", only(201, "account_manager"), body={"hours": 1.5}, fresh="engagement"
    ),
    # users
    # notifications: everyone reads and marks their own; another's does not exist for them
    ("notifications.index", "GET"): Case(API + "/me/notifications?include_read=true", everyone(200)),
    ("notifications.read", "POST"): Case(
        API + "/me/notifications/{note}/read", only(200, "account_manager", others=403), fresh="note"
    ),
    ("notifications.read_all", "POST"): Case(API + "/me/notifications/read-all", everyone(200)),
    ("users.index", "GET"): Case(API + "/users", everyone(200)),
    ("users.add", "POST"): Case(
        API + "/users",
        only(201, "admin"),
        body={"username": "{new_user}", "name": "New", "roles": ["leadership"]},
    ),
    ("users.show", "GET"): Case(API + "/users/priya", everyone(200)),
    ("users.change", "PATCH"): Case(API + "/users/priya", only(200, "admin"), body={"name": "Priya S."}),
    # a password and new tokens need a password login: a token is refused (tests/test_auth_rules.py)
    ("users.password", "PUT"): Case(
        API + "/users/priya/password", only(204, "admin"), body={"password": "{password}"}, session=True
    ),
    ("users.me", "GET"): Case(API + "/me", everyone(200)),
    ("users.tokens", "GET"): Case(API + "/me/tokens", everyone(200)),
    ("users.new_token", "POST"): Case(
        API + "/me/tokens", everyone(201), body={"name": "script"}, session=True
    ),
    # report pages and the engagement review: leadership, ops leads and admins
    ("reports_pages.overview", "GET"): Case("/reports", readers(200), page=True),
    ("reports_pages.report", "GET"): Case("/reports/cost?by=lane", readers(200), page=True),
    ("reports_pages.review", "GET"): Case("/engagements/{engagement}/review", readers(200), page=True),
    ("reports_pages.heatmap_page", "GET"): Case("/reports/heatmap?measure=breach", readers(200), page=True),
    ("reports_pages.compare_page", "GET"): Case(
        "/reports/compare?process=fast_track", readers(200), page=True
    ),
    ("reports_pages.statement_page", "GET"): Case("/reports/servicing/statement", readers(200), page=True),
    # nothing chosen: readers are told to choose (422), the others are refused
    ("reports_pages.statement_pdf", "GET"): Case("/reports/servicing/statement.pdf", readers(422), page=True),
    # reports: leadership, ops leads and admins
    ("reports.index", "GET"): Case(API + "/reports", everyone(200)),
    ("reports.report", "GET"): Case(API + "/reports/time", only(200, "leadership", "ops_lead", "admin")),
    ("reports.heatmap_report", "GET"): Case(
        API + "/reports/heatmap?process=fast_track&version=all", only(200, "leadership", "ops_lead", "admin")
    ),
    ("reports.export_xes", "GET"): Case(
        API + "/reports/export.xes", only(200, "leadership", "ops_lead", "admin")
    ),
    ("reports.export_ocel", "GET"): Case(
        API + "/reports/export.ocel.json", only(200, "leadership", "ops_lead", "admin")
    ),
    ("reports.compare", "GET"): Case(API + "/reports/compare", only(200, "leadership", "ops_lead", "admin")),
    # pete's token: he and an admin may revoke it; to anyone else it does not exist
    ("users.drop_token", "DELETE"): Case(
        API + "/me/tokens/{token}", only(204, "project_manager", "admin", others=404), fresh="token"
    ),
}


def routes_of(app: Flask) -> set[tuple[str, str]]:
    """(endpoint, method) of every route the app serves."""
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


class Walk:
    """The app, a logged-in session and a token per person, and fresh objects on demand."""

    def __init__(self, app: Flask, services: Services) -> None:
        self.app = app
        self.services = services
        self.tokens = {role: token_for(services, username) for role, username in PEOPLE.items()}
        self.sessions = {role: self.log_in(username) for role, username in PEOPLE.items()}
        self.engagement = start(services)

    def log_in(self, username: str) -> FlaskClient:
        client = self.app.test_client()
        token = csrf_from(client.get("/login").get_data(as_text=True))
        form = {"username": username, "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=form).status_code == 302
        return client

    def values(self, case: Case, role: str) -> dict[str, Any]:
        """What the placeholders of a case stand for, made fresh when the case says so."""
        engagement = self.engagement
        if case.fresh in ("engagement", "claimed"):
            engagement = start(self.services)
        if case.fresh == "claimed":
            with self.services.db.unit_of_work() as session:
                claim_task(session, self.services, engagement, "pitch_prepare", actor="ana")
        values: dict[str, Any] = {
            "engagement": engagement,
            "me": PEOPLE.get(role, "nobody"),
            "password": PASSWORD,
            "new_user": f"newcomer{next(_names)}",
            "fast_track": FAST_TRACK,
            "slower_qc": SLOWER_QC,
            "even_slower_qc": EVEN_SLOWER_QC,
            "pitch_prepare": stories.pitch_prepare(),
        }
        if case.fresh == "note":  # a fresh engagement tells ana of its pitch task
            fresh = start(self.services)
            with self.services.db.unit_of_work() as session:
                values["note"] = session.scalars(
                    select(Notification.id)
                    .where(Notification.engagement_id == fresh)
                    .order_by(Notification.id)
                ).first()
        if case.fresh == "person":  # someone to deactivate or give a password, not one of the walkers
            with self.services.db.unit_of_work() as session:
                values["person"] = create_user(
                    session, self.services, values["new_user"], actor="adam", name="W", roles=["leadership"]
                ).username
        if case.fresh == "token":
            with self.services.db.unit_of_work() as session:
                token = issue_token(session, self.services, "pete", name="to revoke", actor="pete")
                values["token"] = token.token.id
        return values

    def call(self, method: str, case: Case, role: str) -> TestResponse:
        values = self.values(case, role)
        url = case.url.format(**values)
        if case.page:
            return self._page(method, url, case, role, values)
        body = _fill(case.body, values) if case.body is not None else None
        if case.session and role != "anonymous":
            client = self.sessions[role]
            token = client.get("/api/v1/me").get_json()["csrf_token"]
            return client.open(url, method=method, json=body, headers={"X-CSRFToken": token})
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role in self.tokens else {}
        return self.app.test_client().open(url, method=method, json=body, headers=headers)

    def _page(self, method: str, url: str, case: Case, role: str, values: dict[str, Any]) -> TestResponse:
        if role == "anonymous":
            client = self.app.test_client()
        elif case.fresh == "session":  # logging out ends the session: use a session of its own
            client = self.log_in(PEOPLE[role])
        else:
            client = self.sessions[role]
        if method == "GET":
            return client.get(url)
        page = client.get("/login" if role == "anonymous" else "/").get_data(as_text=True)
        if case.body is not None:  # the editor's JSON posts carry the session's CSRF token in a header
            body = _fill(case.body, values)
            return client.post(url, json=body, headers={"X-CSRFToken": csrf_from(page)})
        form = {k: v.format(**values) for k, v in case.form.items()}
        if role == "anonymous" and "password" in form:
            form["password"] = "not the password"
        return client.post(url, data={**form, "csrf_token": csrf_from(page)})


def _fill(template: Any, values: dict[str, Any]) -> Any:
    """A JSON body with its "{placeholder}" strings replaced (by any JSON value)."""
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    if isinstance(template, str) and template.startswith("{") and template.endswith("}"):
        return values[template[1:-1]]
    return template


@pytest.fixture
def walk(app: Flask, deployed: Services) -> Walk:
    with deployed.db.unit_of_work() as session:
        seed_users(session, deployed, password=PASSWORD)
    return Walk(app, deployed)


def test_every_route_has_an_expectation(app: Flask) -> None:
    served = routes_of(app)
    assert served - set(CASES) == set(), "routes without an expected status per role"
    assert set(CASES) - served == set(), "expectations for routes that no longer exist"
    assert all(set(case.expect) == set(ROLES) for case in CASES.values())


def test_every_route_answers_every_role_as_expected(walk: Walk) -> None:
    wrong: list[str] = []
    for (endpoint, method), case in sorted(CASES.items()):
        for role in ROLES:
            response = walk.call(method, case, role)
            if response.status_code != case.expect[role]:
                detail = response.get_data(as_text=True)[:160].replace("\n", " ")
                got, want = response.status_code, case.expect[role]
                wrong.append(f"{method} {endpoint} as {role}: {got}, not {want} ({detail})")
    assert wrong == [], "\n".join(wrong)
