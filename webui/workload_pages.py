"""The workload board (ops leads, resource managers, admins): who holds what this week and next,
against their capacity, with a reassign form on every step (ops leads and admins may use it)."""

from __future__ import annotations

from flask import Blueprint, render_template

from workflows.people.permissions import OPERATORS
from workflows.reports.workload_board import LATER, NEXT_WEEK, OVERDUE, THIS_WEEK, workload_board

from .auth import current_user
from .request_work import work

bp = Blueprint("workload", __name__)


@bp.get("/workload")
def board() -> str:
    """The board."""
    with work() as (session, svc):
        data = workload_board(session, svc, actor=current_user().username)
    return render_template(
        "workload.html",
        board=data,
        weeks=((THIS_WEEK, "This week"), (NEXT_WEEK, "Next week")),
        later=LATER,
        overdue=OVERDUE,
        may_reassign=current_user().has_role(*OPERATORS),
    )
