"""The event log for process-mining tools: XES (IEEE 1849-2016) and OCEL 2.0 JSON, streamed.

Both are written from the `event` table's step events (those with a BPMN id: readied, assigned,
claimed, completed...) in chunks of text, so a million-event store is never one string in memory:
the API streams the chunks as the response body, ``baton export`` writes them to a file with a
progress bar. In XES a trace is an engagement (``concept:name`` its id) and an event is one step
event (``concept:name`` the step's name, ``lifecycle:transition`` what happened, ``org:resource``
who, ``time:timestamp`` with the agency calendar's offset). In OCEL 2.0 the objects are the
engagements and their clients; each event is linked to its engagement and to the client.

Exporting needs what reading a report needs (leadership, an ops lead, an admin).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from engine.models import Event, WorkflowInstance
from workflows.models import Engagement
from workflows.people.permissions import READ_REPORTS, authorize
from workflows.reports.filters import check_filters
from workflows.reports.process import ReportFilter, engagement_instances
from workflows.reports.steps import step_names
from workflows.services import Services

FORMATS = ("xes", "ocel")
MEDIA_TYPES = {"xes": "application/xml", "ocel": "application/json"}
Progress = Callable[[int, int], None]  # (events written, events in all)
BATCH = 2000  # rows fetched at a time
# event kinds as XES lifecycle transitions (the standard lifecycle model); others: "unknown"
TRANSITIONS = {
    "task_ready": "schedule",
    "task_assigned": "assign",
    "task_claimed": "start",
    "task_unclaimed": "suspend",
    "task_completed": "complete",
    "task_cancelled": "withdraw",
}
XES_EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
)


def export_event_log(
    services: Services,
    fmt: str,
    filters: ReportFilter,
    *,
    actor: str,
    progress: Progress | None = None,
) -> Iterator[str]:
    """The event log as chunks of XES or OCEL 2.0 JSON text, for `actor`.

    The permission and the filters are checked now; the rows are read as the chunks are taken
    (in a unit of work of their own, so a streamed response outlives the request's).

    Args:
        services: the application's services (database, calendar).
        fmt: ``xes`` or ``ocel``.
        filters: the engagements (process, version, client) and period (events at) covered.
        actor: who exports; leadership, an ops lead or an admin.
        progress: called with (events written, events in all) as the export goes.

    Raises:
        PermissionDenied: the actor may not read reports.
        UnknownFilterError: a filter names no process, version or client the store has.
        ValueError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format '{fmt}' (expected one of {', '.join(FORMATS)})")
    with services.db.unit_of_work(write=False) as session:
        authorize(session, actor, READ_REPORTS)
        check_filters(session, filters)
    zone = ZoneInfo(services.calendar.timezone)
    return _stream(services, fmt, filters, zone, progress or (lambda done, total: None))


def _stream(
    services: Services, fmt: str, filters: ReportFilter, zone: ZoneInfo, progress: Progress
) -> Iterator[str]:
    with services.db.unit_of_work(write=False) as session:
        writer = _xes if fmt == "xes" else _ocel
        yield from writer(session, filters, zone, progress)


def _events(filters: ReportFilter) -> Select[int, int, datetime, str, str | None, str | None]:
    query = select(Event.id, Event.instance_id, Event.at, Event.kind, Event.bpmn_id, Event.actor).where(
        Event.bpmn_id.is_not(None)
    )
    instances = engagement_instances(filters)
    if instances is not None:
        query = query.where(Event.instance_id.in_(instances))
    if filters.start is not None:
        query = query.where(Event.at >= filters.start)
    if filters.end is not None:
        query = query.where(Event.at < filters.end)
    return query


def _count(session: Session, filters: ReportFilter) -> int:
    return session.scalar(select(func.count()).select_from(_events(filters).subquery())) or 0


def _engagements(session: Session, filters: ReportFilter) -> dict[int, tuple[int, str, str, str, str]]:
    """instance id -> (engagement id, client, name, process id, status)."""
    query = select(
        Engagement.instance_id,
        Engagement.id,
        Engagement.client,
        Engagement.name,
        Engagement.process_id,
        WorkflowInstance.status,
    ).join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
    instances = engagement_instances(filters)
    if instances is not None:
        query = query.where(Engagement.instance_id.in_(instances))
    return {row[0]: tuple(row[1:]) for row in session.execute(query)}  # type: ignore[misc]


def _stamp(moment: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 with milliseconds and the zone's offset, e.g. 2026-12-01T10:00:00.000+00:00."""
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


# -- XES -------------------------------------------------------------------------------------------


def _attr(tag: str, key: str, value: str) -> str:
    return f"<{tag} key={quoteattr(key)} value={quoteattr(value)}/>"


def _xes(session: Session, filters: ReportFilter, zone: ZoneInfo, progress: Progress) -> Iterator[str]:
    total = _count(session, filters)
    names = step_names(session)
    engagements = _engagements(session, filters)
    head = ['<?xml version="1.0" encoding="UTF-8"?>\n', '<log xes.version="2.0" xes.features="">\n']
    head += [
        f"  <extension name={quoteattr(n)} prefix={quoteattr(p)} uri={quoteattr(u)}/>\n"
        for n, p, u in XES_EXTENSIONS
    ]
    head.append('  <global scope="trace">' + _attr("string", "concept:name", "") + "</global>\n")
    head.append(
        '  <global scope="event">'
        + _attr("string", "concept:name", "")
        + _attr("string", "lifecycle:transition", "unknown")
        + _attr("date", "time:timestamp", "1970-01-01T00:00:00.000+00:00")
        + "</global>\n"
    )
    head.append('  <classifier name="Activity" keys="concept:name"/>\n')
    head.append('  <classifier name="Activity_transition" keys="concept:name lifecycle:transition"/>\n')
    head.append("  " + _attr("string", "concept:name", "Baton engagements") + "\n")
    yield "".join(head)
    current: int | None = None
    done = 0
    chunk: list[str] = []
    rows = session.execute(
        _events(filters).order_by(Event.instance_id, Event.at, Event.id).execution_options(yield_per=BATCH)
    )
    for _id, instance_id, at, kind, bpmn_id, who in rows:
        if instance_id != current:
            if current is not None:
                chunk.append("  </trace>\n")
            current = instance_id
            engagement_id, client, name, process_id, status = engagements.get(
                instance_id, (instance_id, "", "", "", "")
            )
            chunk.append(
                "  <trace>"
                + _attr("string", "concept:name", str(engagement_id))
                + _attr("string", "client", client)
                + _attr("string", "engagement", name)
                + _attr("string", "process", process_id)
                + _attr("string", "status", status)
                + "\n"
            )
        parts = [
            _attr("string", "concept:name", names.get(bpmn_id or "", bpmn_id or "")),
            _attr("string", "step", bpmn_id or ""),
            _attr("string", "lifecycle:transition", TRANSITIONS.get(kind, "unknown")),
            _attr("string", "kind", kind),
            _attr("date", "time:timestamp", _stamp(at, zone)),
        ]
        if who:
            parts.append(_attr("string", "org:resource", who))
        chunk.append("    <event>" + "".join(parts) + "</event>\n")
        done += 1
        if done % BATCH == 0:
            yield "".join(chunk)
            chunk = []
            progress(done, total)
    if current is not None:
        chunk.append("  </trace>\n")
    chunk.append("</log>\n")
    yield "".join(chunk)
    progress(done, total)


# -- OCEL 2.0 JSON ---------------------------------------------------------------------------------


def _ocel(session: Session, filters: ReportFilter, zone: ZoneInfo, progress: Progress) -> Iterator[str]:
    total = _count(session, filters)
    names = step_names(session)
    engagements = _engagements(session, filters)
    listed = _events(filters).subquery()
    steps = session.scalars(select(listed.c.bpmn_id).distinct())
    activity_names = sorted({names.get(s, s) for s in steps if s})
    event_attributes = [{"name": n, "type": "string"} for n in ("lifecycle", "resource", "step")]
    header = {
        "objectTypes": [
            {
                "name": "engagement",
                "attributes": [
                    {"name": "name", "type": "string"},
                    {"name": "process", "type": "string"},
                    {"name": "status", "type": "string"},
                ],
            },
            {"name": "client", "attributes": []},
        ],
        "eventTypes": [{"name": a, "attributes": event_attributes} for a in activity_names],
    }
    epoch = "1970-01-01T00:00:00Z"
    objects = []
    for engagement_id, client, name, process_id, status in engagements.values():
        objects.append(
            {
                "id": f"engagement-{engagement_id}",
                "type": "engagement",
                "attributes": [
                    {"name": "name", "time": epoch, "value": name},
                    {"name": "process", "time": epoch, "value": process_id},
                    {"name": "status", "time": epoch, "value": status},
                ],
                "relationships": [{"objectId": f"client-{client}", "qualifier": "for client"}],
            }
        )
    for client in sorted({e[1] for e in engagements.values()}):
        objects.append({"id": f"client-{client}", "type": "client", "attributes": []})
    opening = json.dumps(header)[:-1]  # without its closing brace: objects and events follow
    yield opening + ', "objects": ' + json.dumps(objects) + ', "events": [\n'
    done = 0
    chunk: list[str] = []
    rows = session.execute(_events(filters).order_by(Event.at, Event.id).execution_options(yield_per=BATCH))
    for event_id, instance_id, at, kind, bpmn_id, who in rows:
        engagement_id, client, *_ = engagements.get(instance_id, (instance_id, ""))
        event = {
            "id": f"e{event_id}",
            "type": names.get(bpmn_id or "", bpmn_id or ""),
            "time": _stamp(at, zone),
            "attributes": [
                {"name": "lifecycle", "value": TRANSITIONS.get(kind, "unknown")},
                {"name": "resource", "value": who or ""},
                {"name": "step", "value": bpmn_id or ""},
            ],
            "relationships": [
                {"objectId": f"engagement-{engagement_id}", "qualifier": "case"},
                {"objectId": f"client-{client}", "qualifier": "client"},
            ],
        }
        chunk.append(("" if done == 0 else ",\n") + json.dumps(event))
        done += 1
        if done % BATCH == 0:
            yield "".join(chunk)
            chunk = []
            progress(done, total)
    chunk.append("\n]}\n")
    yield "".join(chunk)
    progress(done, total)
