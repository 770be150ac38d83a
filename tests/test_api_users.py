"""The admin manages users over the API; everyone reads the directory and sets their own password."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.api_support import Caller, caller, csrf_from, give_password, logged_in, problem_of
from workflows.services import Services


@pytest.fixture
def adam(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "adam")


def logs_in(app: Flask, username: str, password: str) -> bool:
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    form = {"username": username, "password": password, "csrf_token": token}
    return client.post("/login", data=form).status_code == 302


def test_the_admin_adds_a_user_who_can_then_log_in(app: Flask, adam: Caller) -> None:
    new = {"username": "max", "name": "Max Mayer", "roles": ["ops_lead"], "email": "max@agency.example"}
    added = adam.post("/api/v1/users", json={**new, "password": "max's first pw"})
    assert added.status_code == 201 and added.headers["Location"] == "/api/v1/users/max"
    assert added.get_json() | {"created_at": None} == {
        "username": "max",
        "name": "Max Mayer",
        "email": "max@agency.example",
        "roles": ["ops_lead"],
        "active": True,
        "created_at": None,
    }
    assert logs_in(app, "max", "max's first pw")
    taken = problem_of(adam.post("/api/v1/users", json=new), 400)
    assert taken["detail"] == "there is already a user 'max'"
    bad = problem_of(adam.post("/api/v1/users", json={**new, "username": "eve", "roles": ["boss"]}), 422)
    assert bad["errors"][0]["pointer"] == "/roles/0"
    short = problem_of(adam.post("/api/v1/users", json={**new, "username": "eve", "password": "short"}), 422)
    assert short["errors"][0]["pointer"] == "/password"


def test_the_admin_changes_roles_and_activation_but_cannot_lock_themselves_out(
    app: Flask, deployed: Services, adam: Caller
) -> None:
    changed = adam.patch(
        "/api/v1/users/ana", json={"roles": ["account_manager", "ops_lead"], "name": "Ana A."}
    )
    assert changed.status_code == 200
    assert (
        changed.get_json()["roles"] == ["account_manager", "ops_lead"]
        and changed.get_json()["name"] == "Ana A."
    )

    ana = caller(app, deployed, "ana")
    off = adam.patch("/api/v1/users/ana", json={"active": False})
    assert off.status_code == 200 and off.get_json()["active"] is False
    problem_of(ana.get("/api/v1/me"), 401)  # her token stops working with her

    assert problem_of(adam.patch("/api/v1/users/adam", json={"active": False}), 400)["detail"].startswith(
        "you cannot deactivate yourself"
    )
    problem_of(adam.patch("/api/v1/users/adam", json={"roles": ["leadership"]}), 400)
    problem_of(adam.patch("/api/v1/users/zoe", json={"active": True}), 404)
    problem_of(adam.patch("/api/v1/users/pete", json={"email": "not-an-address"}), 400)


def test_only_admins_manage_users_but_everyone_reads_the_directory(app: Flask, deployed: Services) -> None:
    olga = caller(app, deployed, "olga")
    names = [u["username"] for u in olga.get("/api/v1/users").get_json()]
    assert names == ["adam", "alex", "ana", "lee", "olga", "pete", "priya", "rita"]
    pms = [u["username"] for u in olga.get("/api/v1/users?role=project_manager").get_json()]
    assert pms == ["pete", "priya"]
    assert olga.get("/api/v1/users/ana").get_json()["roles"] == ["account_manager"]
    refused = problem_of(olga.patch("/api/v1/users/ana", json={"active": False}), 403)
    assert refused["detail"] == "olga may not manage users: only admins may"
    problem_of(olga.post("/api/v1/users", json={"username": "x", "name": "X", "roles": ["admin"]}), 403)


def test_people_set_their_own_password_with_the_current_one_and_the_admin_anyones(
    app: Flask, deployed: Services
) -> None:
    give_password(deployed, "pete", "pete's first pw")
    give_password(deployed, "adam", "adam's own pw")
    pete = logged_in(app, "pete", "pete's first pw")
    missing = problem_of(pete.put("/api/v1/users/pete/password", json={"password": "pete's new pw"}), 403)
    assert missing["detail"] == "give your current password to change it"
    wrong = {"password": "pete's new pw", "current_password": "a guess"}
    assert problem_of(pete.put("/api/v1/users/pete/password", json=wrong), 403)["detail"] == (
        "the current password is wrong"
    )
    right = {"password": "pete's new pw", "current_password": "pete's first pw"}
    assert pete.put("/api/v1/users/pete/password", json=right).status_code == 204
    assert logs_in(app, "pete", "pete's new pw")
    assert pete.get("/api/v1/me").status_code == 200  # the session that changed it goes on
    problem_of(pete.put("/api/v1/users/ana/password", json={"password": "hijacked pw"}), 403)

    adam = logged_in(app, "adam", "adam's own pw")  # resetting another's needs no current password
    assert adam.put("/api/v1/users/ana/password", json={"password": "ana's reset pw"}).status_code == 204
    assert logs_in(app, "ana", "ana's reset pw")
    problem_of(adam.put("/api/v1/users/ana/password", json={"password": "ana"}), 422)
