"""The servicing statement on the agency of tests/test_reports_budget.py, worked out by hand.

Acme's "Summer launch" (budget 20,000): ana logged 3 h of account management on the pitch
(3 x 95 = 285), pete 1 + 1 h of production and 0.75 + 0.75 h of QC (3.5 x 85 = 297.5): servicing
cost 582.5, 2.9125 % of the budget. The scope estimate gave 20 AM hours and 30 PM hours: 20 x 95 +
30 x 85 = 4,450 allotted (22.25 %), so 3,867.5 of the allotment is left (the internal margin).
What it bought: three check-ins (the scope sign-off and the client feedback, both on the
client's clock, and the growth review), one feedback round that approved, one QC round failed
before the client saw the work, no change request. "Retail cut-downs" (budget 10,000, 1 h AM and
2 h PM: 95 + 170 = 265) has its change order still open: nothing agreed yet.
"""

from __future__ import annotations

import subprocess

import pytest
from flask import Flask

from tests.api_support import make_app
from tests.test_reports_budget import agency
from tests.test_reports_pages import logged_in
from workflows.people.permissions import PermissionDenied
from workflows.reports.process import ReportFilter
from workflows.reports.registry import report_rows
from workflows.reports.servicing import servicing_report, servicing_statement
from workflows.services import Services

__all__ = ["agency"]  # the fixture


def test_what_servicing_cost_and_what_it_bought(deployed: Services, agency: dict[str, int]) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        lines = {line.ids[0]: line for line in servicing_report(session, deployed)}
        (acme,) = servicing_report(session, deployed, by="client")
    summer, retail = lines[agency["summer"]], lines[agency["retail"]]
    assert (summer.am_hours, summer.am_cost, summer.pm_hours, summer.pm_cost) == (3.0, 285.0, 3.5, 297.5)
    assert (summer.cost, summer.budget, summer.share) == (582.5, 20000.0, pytest.approx(0.029125))
    assert (summer.allotted, summer.allotted_share, summer.margin) == (4450.0, 0.2225, 3867.5)
    assert (summer.check_ins, summer.feedback_rounds, summer.changes_asked) == (3, 1, 0)
    assert (summer.qc_caught, summer.change_requests, summer.change_orders_won) == (1, 0, 0)
    assert summer.handoffs > 0 and summer.handoff_latency is not None
    assert (retail.am_cost, retail.pm_cost, retail.change_orders_won) == (95.0, 170.0, 0)
    assert agency["lost"] not in lines  # a lost pitch has no budget: no statement
    assert (acme.engagements, acme.cost, acme.budget) == (2, 847.5, 30000.0)


def test_the_report_rows_keep_the_margin_for_the_agency(deployed: Services, agency: dict[str, int]) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        rows = {r["key"]: r for r in report_rows(session, deployed, "servicing", ReportFilter()).rows}
        with pytest.raises(PermissionDenied):
            servicing_statement(session, deployed, actor="ana")
    summer = rows[f"{agency['summer']} Summer launch"]
    assert (summer["servicing_cost"], summer["allotted_share"], summer["margin"]) == (582.5, 0.2225, 3867.5)


def test_the_client_statement_leaves_the_margins_out_and_prints_as_a_pdf(
    deployed: Services, agency: dict[str, int], database_url: str
) -> None:
    app: Flask = make_app(deployed, database_url)
    lee = logged_in(app, deployed, "lee")
    summer = agency["summer"]
    client = lee.get(f"/reports/servicing/statement?engagement={summer}&audience=client")
    assert client.status_code == 200
    html = client.get_data(as_text=True)
    assert "prepared for Acme" in html and "£285.00" in html and "£582.50" in html
    assert "22.2%" in html and "Margin" not in html and "£4,450.00" not in html
    internal = lee.get(f"/reports/servicing/statement?engagement={summer}&audience=internal").get_data(
        as_text=True
    )
    assert "Margin left of the allotment" in internal and "£3,867.50" in internal and "£4,450.00" in internal
    by_client = lee.get("/reports/servicing/statement?client=acme").get_data(as_text=True)  # any case
    assert "prepared for Acme" in by_client and "£847.50" in by_client
    assert lee.get("/reports/servicing/statement?client=Nobody").status_code == 422
    assert lee.get("/reports/servicing/statement?engagement=999").status_code == 422
    pdf = lee.get(f"/reports/servicing/statement.pdf?engagement={summer}&audience=client")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout
    words = text.decode()
    assert "Servicing statement" in words and "£582.50" in words and "Margin" not in words
    assert (
        logged_in(app, deployed, "ana").get(f"/reports/servicing/statement?engagement={summer}").status_code
        == 403
    )
