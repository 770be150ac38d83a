"""Lane leads: the ops lead names a lead per role; a role without one falls back to the ops leads.

The demo agency (see workflows.demo.seed): alex leads the AMs, priya the PMs, olga is the ops lead.
"""

from __future__ import annotations

import re

import pytest

from engine.errors import NotFoundError
from tests.test_cli import Baton, err, ok
from workflows.people.directory import update_user
from workflows.people.leads import lane_leads, set_lead
from workflows.people.permissions import PermissionDenied
from workflows.services import Services


def test_the_demo_agency_has_an_am_lead_and_a_pm_lead(deployed: Services) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        assert lane_leads(session, "account_manager") == ["alex"]
        assert lane_leads(session, "project_manager") == ["priya"]
        assert lane_leads(session, "resource_manager") == ["olga"]  # no lead: the ops leads


def test_only_ops_leads_and_admins_name_leads_among_those_holding_the_role(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        with pytest.raises(PermissionDenied, match="ana may not name the leads of a role"):
            set_lead(session, "ana", "account_manager", actor="ana")
        with pytest.raises(ValueError, match="pete does not hold the role account_manager"):
            set_lead(session, "pete", "account_manager", actor="olga")
        with pytest.raises(ValueError, match="unknown role 'boss'"):
            set_lead(session, "pete", "boss", actor="adam")
        with pytest.raises(NotFoundError, match="no user 'nobody'"):
            set_lead(session, "nobody", "account_manager", actor="olga")

        set_lead(session, "ana", "account_manager", actor="adam")  # an admin may
        assert lane_leads(session, "account_manager") == ["alex", "ana"]
        set_lead(session, "alex", "account_manager", lead=False, actor="olga")
        assert lane_leads(session, "account_manager") == ["ana"]
        update_user(session, "ana", actor="adam", active=False)  # an inactive lead leads nothing
        assert lane_leads(session, "account_manager") == ["olga"]


def test_leads_from_the_command_line(database_url: str) -> None:
    baton = Baton(database_url)
    ok(baton("init-db"))
    for username, role, name in (
        ("alex", "account_manager", "Alex Chen"),
        ("ana", "account_manager", "Ana Alvarez"),
        ("olga", "ops_lead", "Olga Berg"),
    ):
        ok(baton("users", "add", username, "--role", role, "--name", name))

    assert "alex now leads the account managers" in ok(
        baton("users", "lead", "alex", "account_manager", "--as", "olga")
    )
    assert re.search(r"alex\s+│\s+Alex Chen\s+│\s+│\s+account_manager \(lead\)", ok(baton("users", "list")))
    result = baton("users", "lead", "ana", "account_manager", "--as", "ana")
    assert result.exit_code == 1 and "only an ops lead or an admin" in err(result)
    assert "alex no longer leads the account managers" in ok(
        baton("users", "lead", "alex", "account_manager", "--no-lead", "--as", "olga")
    )
    assert "(lead)" not in ok(baton("users", "list"))
