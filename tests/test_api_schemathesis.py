"""schemathesis generates requests from /api/openapi.json: whatever it sends, no answer is a 5xx.

It calls the real app in-process (WSGI) on the test database, as a user holding every role
(so requests get past the permission checks and into validation and the use cases), with
a few engagements to act on. The document itself is read once, at collection,
from an app on an empty in-memory database (schemathesis' lazy fixture loader does not run
on pytest 9): the operations are the same, only the data differ.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.api_support import SECRET, make_app, start, token_for
from webui import create_app
from workflows.agency import ROLES
from workflows.people.users import add_user
from workflows.services import Services

EXAMPLES = 30  # per operation; a CI run may raise it with --hypothesis-seed etc.


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    with deployed.db.unit_of_work() as session:
        add_user(session, deployed, "sam", name="Sam Every-Role", roles=ROLES)
    for client in ("Acme", "Globex", "Initech"):
        start(deployed, client=client)
    return make_app(deployed, database_url)


@pytest.fixture
def bearer(app: Flask, deployed: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(deployed, 'sam')}"}


schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json", create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": SECRET, "TESTING": True})
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_request_gets_a_server_error(case: schemathesis.Case, app: Flask, bearer: dict[str, str]) -> None:
    response = case.call(app=app, headers=bearer)
    case.validate_response(response, checks=[not_a_server_error])
