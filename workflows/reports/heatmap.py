"""The bottleneck heatmap: figures per BPMN element of a process, and the colour each gets.

For every human task of a definition version (or of a process across its versions) the heatmap
gives the completed count, the mean and median business hours from ready to done, the breach
rate and the open count. The figures come from the report functions grouped by task
(`time_report(by="task")`, `sla_report(by="task")`): SQL over `human_task`, business hours on the
agency calendar; no workflow is loaded.

The colour of an element is one of `BUCKETS` buckets from cool to hot. Mean duration is scaled
against the slowest element (the top bucket ends at its mean); the breach rate, already a share,
on fixed fifths of 0-100 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import DefinitionVersion, HumanTask
from engine.xmlsafe import parse_xml
from workflows.people.permissions import READ_REPORTS, authorize
from workflows.reports.filters import check_filters
from workflows.reports.process import ReportFilter, sla_report, time_report
from workflows.services import Services
from workflows.views.diagrams import get_version

MEASURES = ("duration", "breach")
MEASURE_LABELS = {"duration": "mean business hours", "breach": "breach rate"}
BUCKETS = 5
# cool to hot: what the diagram fills each bucket's tasks with
PALETTE = ("#d6e8f7", "#b9e2c8", "#fbe38e", "#f7a35c", "#e2553f")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
HUMAN_TASKS = ("userTask", "manualTask")


@dataclass(frozen=True)
class ElementFigures:
    """What the history says about one BPMN element."""

    bpmn_id: str
    name: str
    completed: int = 0  # completed tasks (every round counts)
    total_hours: float = 0.0
    median_hours: float = 0.0
    p90_hours: float = 0.0
    judged: int = 0  # tasks with a deadline whose outcome is known: completed, or open and breached
    breached: int = 0  # completed after their deadline, or open past it
    open_tasks: int = 0
    in_diagram: bool = True  # False: the element ran on another version only
    client_hours: float = 0.0  # of total_hours, on the client's clock (waiting on the client)

    @property
    def waits_on_client(self) -> bool:
        """Whether most of its time is the client's (a sign-off, feedback): not an agency bottleneck."""
        return self.client_hours > 0 and self.client_hours * 2 >= self.total_hours

    @property
    def mean_hours(self) -> float | None:
        """Mean business hours from ready to done (None: nothing completed)."""
        return self.total_hours / self.completed if self.completed else None

    @property
    def breach_rate(self) -> float | None:
        """Share of judged tasks that breached (None: none had a deadline)."""
        return self.breached / self.judged if self.judged else None

    def value(self, measure: str) -> float | None:
        """The figure `measure` colours by."""
        return self.mean_hours if measure == "duration" else self.breach_rate


@dataclass(frozen=True)
class Bucket:
    """One colour of the scale and the range of values it covers."""

    index: int
    low: float
    high: float
    colour: str
    label: str


@dataclass(frozen=True)
class HeatElement:
    """An element's figures and its colour on the heatmap (bucket None: no figure to colour by)."""

    figures: ElementFigures
    value: float | None
    bucket: int | None  # None: no figure, or (by duration) time the client's, not the agency's

    def as_row(self) -> dict[str, Any]:
        """One flat row (the API's JSON and CSV, the page's table)."""
        f = self.figures
        return {
            "key": f.bpmn_id,
            "name": f.name,
            "completed": f.completed,
            "mean_hours": _round(f.mean_hours),
            "median_hours": round(f.median_hours, 2),
            "total_hours": round(f.total_hours, 2),
            "breached": f.breached,
            "judged": f.judged,
            "breach_rate": _round(f.breach_rate, 4),
            "open_tasks": f.open_tasks,
            "agency_hours": round(f.total_hours - f.client_hours, 2),
            "client_hours": round(f.client_hours, 2),
            "waits_on_client": f.waits_on_client,
            "bucket": self.bucket,
        }


@dataclass(frozen=True)
class Heatmap:
    """A process's diagram with a colour per task for one measure, and the scale's legend."""

    process_id: str
    version: int | None  # None: every version of the process
    diagram_version: int  # the version whose diagram is drawn (the latest when all)
    measure: str
    elements: list[HeatElement]
    scale: list[Bucket]
    hottest: str | None  # the element in the top bucket with the largest value
    filters: ReportFilter = field(default_factory=ReportFilter)
    newest_without_data: int | None = None  # the latest version, passed over as it has no step yet

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every element as a flat row, in diagram order."""
        return [e.as_row() for e in self.elements]


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def human_tasks_of(bpmn_xml: str) -> dict[str, str]:
    """The user and manual tasks of a BPMN document, id -> name, in document order."""
    tree = parse_xml(bpmn_xml)
    tasks: dict[str, str] = {}
    for kind in HUMAN_TASKS:
        for element in tree.iter(f"{{{BPMN_NS}}}{kind}"):
            tasks[element.get("id", "")] = element.get("name") or element.get("id", "")
    order = {el.get("id"): n for n, el in enumerate(tree.iter())}
    return dict(sorted(tasks.items(), key=lambda kv: order.get(kv[0], 0)))


def resolve_version(
    session: Session, services: Services, process_id: str, version: int | None
) -> DefinitionVersion:
    """A version of `process_id` by number (None: the latest).

    Raises:
        NotFoundError: no such process or version.
    """
    if version is None:
        return services.definitions.latest(session, process_id)
    return get_version(session, process_id, version)


def element_figures(
    session: Session, services: Services, filters: ReportFilter, diagram: dict[str, str]
) -> list[ElementFigures]:
    """Figures per element: the diagram's tasks in order (with no history: zeros), then any
    other element the filtered history ran (another version's), by id.
    """
    times = {r.key: r for r in time_report(session, filters, by="task").rows}
    slas = {r.key: r for r in sla_report(session, filters, by="task")}
    figures = []
    for bpmn_id in [*diagram, *sorted((set(times) | set(slas)) - set(diagram))]:
        t, s = times.get(bpmn_id), slas.get(bpmn_id)
        late = (s.completed - s.on_time + s.open_breached) if s else 0
        figures.append(
            ElementFigures(
                bpmn_id=bpmn_id,
                name=diagram.get(bpmn_id, bpmn_id),
                completed=t.completed if t else 0,
                total_hours=t.total_hours if t else 0.0,
                median_hours=t.median_hours if t else 0.0,
                p90_hours=t.p90_hours if t else 0.0,
                judged=(s.completed + s.open_breached) if s else 0,
                breached=late,
                open_tasks=t.open_tasks if t else 0,
                in_diagram=bpmn_id in diagram,
                client_hours=t.client_hours if t else 0.0,
            )
        )
    return figures


def colour_scale(measure: str, top: float) -> list[Bucket]:
    """The buckets for `measure`: fifths of `top` (hours) or of 100 % (breach rate)."""
    if measure not in MEASURES:
        raise ValueError(f"unknown measure '{measure}' (expected one of {', '.join(MEASURES)})")
    top = 1.0 if measure == "breach" else max(top, 0.0)
    step = top / BUCKETS
    buckets = []
    for i in range(BUCKETS):
        low, high = step * i, step * (i + 1)
        label = f"{low:.0%} to {high:.0%}" if measure == "breach" else f"{low:.1f} to {high:.1f} h"
        buckets.append(Bucket(i, low, high, PALETTE[i], label))
    return buckets


def bucket_of(value: float | None, scale: list[Bucket]) -> int | None:
    """The bucket a value falls in (the top one includes its upper end; None: no value)."""
    if value is None:
        return None
    top = scale[-1].high
    if top <= 0:
        return 0
    return min(int(value / top * BUCKETS), BUCKETS - 1)


def paint(
    figures: list[ElementFigures], measure: str, top: float | None = None
) -> tuple[list[HeatElement], list[Bucket]]:
    """Colour each element by `measure`; `top` fixes the duration scale (e.g. shared by two
    versions side by side), else it ends at the slowest agency element's mean. By duration, an
    element whose time is mostly the client's is left out of the scale (bucket None, flagged
    `waits_on_client` in its figures): waiting on a client is not an agency bottleneck.
    """
    agency = [f for f in figures if not (measure == "duration" and f.waits_on_client)]
    if top is None:
        top = max((f.mean_hours or 0.0 for f in agency), default=0.0)
    scale = colour_scale(measure, top)
    elements = []
    for f in figures:
        value = f.value(measure)
        bucket = None if measure == "duration" and f.waits_on_client else bucket_of(value, scale)
        elements.append(HeatElement(f, value, bucket))
    return elements, scale


def newest_with_data(session: Session, process_id: str) -> int | None:
    """The newest version of `process_id` that has a step (open or done) run on it."""
    return session.scalar(
        select(func.max(DefinitionVersion.version))
        .join(HumanTask, HumanTask.definition_id == DefinitionVersion.id)
        .where(DefinitionVersion.process_id == process_id)
    )


def heatmap(
    session: Session,
    services: Services,
    process_id: str,
    version: int | None = None,
    *,
    measure: str = "duration",
    every_version: bool = False,
    filters: ReportFilter | None = None,
    top: float | None = None,
    actor: str,
) -> Heatmap:
    """The heatmap of one version of `process_id` (None: the latest), or of the process across
    its versions (`every_version`, drawn on the latest diagram), for `actor`.

    Args:
        session: the unit of work.
        services: Baton's services (calendar, definitions).
        process_id: the process.
        version: the version number (None: the newest version with a step run on it, else the
            latest).
        measure: ``duration`` (mean business hours) or ``breach`` (breach rate).
        every_version: figures over every version instead of one.
        filters: period and client (its definition fields are set here).
        top: where the duration scale ends (default: the slowest element's mean).
        actor: who asks: leadership, an ops lead or an admin.

    Raises:
        PermissionDenied: the actor may not read reports.
        NotFoundError: no such process or version.
        ValueError: unknown measure.
    """
    authorize(session, actor, READ_REPORTS)
    check_filters(session, filters or ReportFilter())
    if measure not in MEASURES:
        raise ValueError(f"unknown measure '{measure}' (expected one of {', '.join(MEASURES)})")
    passed_over = None
    if version is None and not every_version:
        # right after a deploy the latest version has no step yet: show the newest that has
        latest = resolve_version(session, services, process_id, None)
        with_data = newest_with_data(session, process_id)
        if with_data is not None and with_data != latest.version:
            version, passed_over = with_data, latest.version
    row = resolve_version(session, services, process_id, None if every_version else version)
    base = filters or ReportFilter()
    scoped = ReportFilter(
        base.start,
        base.end,
        process_id,
        base.client,
        None if every_version else row.id,
    )
    figures = element_figures(session, services, scoped, human_tasks_of(row.bpmn_xml))
    heat = painted(row, figures, measure, top=top, filters=scoped, every_version=every_version)
    return replace(heat, newest_without_data=passed_over)


def painted(
    row: DefinitionVersion,
    figures: list[ElementFigures],
    measure: str,
    *,
    top: float | None = None,
    filters: ReportFilter | None = None,
    every_version: bool = False,
) -> Heatmap:
    """The heatmap of figures already gathered for version `row` (see `heatmap`)."""
    elements, scale = paint(figures, measure, top)
    hot = [e for e in elements if e.bucket == BUCKETS - 1 and e.value]
    hottest = max(hot, key=lambda e: e.value or 0.0).figures.bpmn_id if hot else None
    return Heatmap(
        process_id=row.process_id,
        version=None if every_version else row.version,
        diagram_version=row.version,
        measure=measure,
        elements=elements,
        scale=scale,
        hottest=hottest,
        filters=filters or ReportFilter(),
    )


__all__ = [
    "BUCKETS",
    "MEASURES",
    "MEASURE_LABELS",
    "PALETTE",
    "Bucket",
    "ElementFigures",
    "HeatElement",
    "Heatmap",
    "bucket_of",
    "colour_scale",
    "element_figures",
    "heatmap",
    "human_tasks_of",
    "newest_with_data",
    "paint",
    "painted",
    "resolve_version",
]
