"""Rework as a report: decisions per step, rounds of rework, the QC fail rate and its cost."""

from __future__ import annotations

from sqlalchemy.orm import Session

from workflows.reports.costs import rework_cost
from workflows.reports.process import ReportFilter, rework_report
from workflows.reports.rows import (
    AMBER,
    GREY,
    NOTED,
    PASS,
    PM,
    RED,
    WON,
    Chart,
    ReportDescriptor,
    ReportRows,
    Row,
    chart,
    columns,
    pct,
    series,
)
from workflows.services import Services


def _rework(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    report = rework_report(session, filters, most=NOTED)
    steps = sorted(set(report.reruns) | {d.step for d in report.decisions})
    counts = {d.step: d for d in report.decisions}
    rows = [
        {
            "key": step,
            **(counts[step].counts if step in counts else {}),
            "total": counts[step].total if step in counts else 0,
            "reruns": report.reruns.get(step, 0),
        }
        for step in steps
    ]
    costs = rework_cost(session, services, filters)
    total = sum(c.cost for c in costs)
    currency = costs[0].currency if costs else ""
    most = ", ".join(f"{e.client} / {e.name}: {e.rounds}" for e in report.engagements) or "none"
    dearest = ", ".join(
        f"{c.key}: {c.cost:.2f} {c.currency}" for c in sorted(costs, key=lambda c: -c.cost)[:NOTED]
    )
    note = (
        f"QC fail rate: {pct(report.qc_fail_rate)}; rework rounds: {report.rounds} in "
        f"{report.reworked} engagement(s); most: {most}; rework cost: "
        f"{f'{total:.2f} {currency}' if costs else 'none'}{f' (most: {dearest})' if costs else ''}"
    )
    return ReportRows("rework", None, rows, note, [s for s in steps if report.reruns.get(s)])


def _rework_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    decisions = [c for c in columns(rows) if c not in ("key", "total", "reruns")]
    palette = {"approved": PM, "pass": PASS, "won": WON, "changes_requested": AMBER, "fail": RED}
    return [
        chart(
            "rework",
            "Decisions per step",
            keys,
            [
                series(d.replace("_", " "), [r.get(d, 0) for r in rows], palette.get(d, GREY))
                for d in decisions
            ],
            stacked=True,
            integer=True,
        ),
        chart(
            "reruns",
            "Rounds of rework per step (the step run again)",
            keys,
            [series("rounds", [r.get("reruns", 0) for r in rows], AMBER)],
            integer=True,
        ),
    ]


REWORK_REPORT = ReportDescriptor(
    name="rework",
    title="Rework",
    blurb="Decisions per step: changes requested, QC failures, rounds and their cost.",
    order=30,
    groupings=None,
    build=_rework,
    charts=_rework_charts,
)


DESCRIPTORS = (REWORK_REPORT,)
