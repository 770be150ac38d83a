"""Every report, found by its descriptor: building one by name, for a person allowed to read it.

Each module of this package may declare ``DESCRIPTORS``, a tuple of `ReportDescriptor`; the
registry imports the package's modules and collects them, so adding a report is adding it to one
module. `read_report` checks that the reader may read reports (leadership, ops leads, admins:
`workflows.people.permissions.READ_REPORTS`) before building it.
"""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy.orm import Session

import workflows.reports as package
from workflows.people.permissions import READ_REPORTS, authorize
from workflows.reports.filters import check_filters
from workflows.reports.process import ReportFilter
from workflows.reports.rows import ReportDescriptor, ReportRows
from workflows.services import Services


def _discover() -> dict[str, ReportDescriptor]:
    found: list[ReportDescriptor] = []
    for module in pkgutil.iter_modules(package.__path__):
        found += getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "DESCRIPTORS", ())
    return {d.name: d for d in sorted(found, key=lambda d: d.order)}


DESCRIPTORS = _discover()
REPORTS = tuple(DESCRIPTORS)  # the report names, in their order
# report -> the dimensions it groups by (the first is the default); None: it does not group
GROUPINGS = {name: d.groupings for name, d in DESCRIPTORS.items()}


def descriptor(name: str) -> ReportDescriptor:
    """The report called `name`.

    Raises:
        ValueError: no such report.
    """
    if name not in DESCRIPTORS:
        raise ValueError(f"unknown report '{name}' (expected one of {', '.join(REPORTS)})")
    return DESCRIPTORS[name]


def grouping(name: str, by: str | None) -> str | None:
    """The dimension report `name` groups by: `by`, or its default (None: it does not group).

    Raises:
        ValueError: unknown report, or a dimension it cannot group by.
    """
    allowed = descriptor(name).groupings
    if allowed is None:
        return None
    if by is None:
        return allowed[0]
    if by not in allowed:
        raise ValueError(f"{name} groups by {' or '.join(allowed)}, not {by}")
    return by


def report_rows(
    session: Session, services: Services, name: str, filters: ReportFilter, by: str | None = None
) -> ReportRows:
    """Report `name` (one of `REPORTS`) as rows, grouped by `by` (default: the report's own).

    Raises:
        ValueError: unknown report or dimension.
    """
    return descriptor(name).build(session, services, filters, grouping(name, by))


def read_report(
    session: Session,
    services: Services,
    name: str,
    filters: ReportFilter,
    by: str | None = None,
    *,
    actor: str,
) -> ReportRows:
    """`report_rows` for `actor`, who must be in leadership, an ops lead or an admin.

    Raises:
        PermissionDenied: the actor may not read reports.
        UnknownFilterError: a filter names no process, version or client the store has.
        ValueError: unknown report or dimension.
    """
    authorize(session, actor, READ_REPORTS)
    check_filters(session, filters)
    return report_rows(session, services, name, filters, by)
