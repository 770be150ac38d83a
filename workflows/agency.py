"""The agency's vocabulary: stages, lanes and the lint rules definitions must satisfy."""

from __future__ import annotations

from collections.abc import Iterable

from engine.definitions import ParsedDefinition, element_id, properties_of
from engine.errors import LintIssue

from .sla import parse_sla

STAGES: tuple[str, ...] = (
    "pitch",
    "scope",
    "brief",
    "timeline",
    "resourcing",
    "production",
    "qc",
    "feedback",
    "review",
)
STAGE_LABELS: dict[str, str] = {stage: ("QC" if stage == "qc" else stage.capitalize()) for stage in STAGES}
AM_LANE = "Account Management"
PM_LANE = "Project Management"
# lane name -> the role whose members work it
LANE_ROLES: dict[str, str] = {AM_LANE: "account_manager", PM_LANE: "project_manager"}
BOOLEAN_TEXT = {"true", "false"}


def rule_known_lanes(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """Every lane of the definition must be one Baton knows how to staff."""
    for lane in defn.lanes:
        if lane not in LANE_ROLES:
            known = ", ".join(sorted(LANE_ROLES))
            yield LintIssue(defn.lane_ids.get(lane), f"unknown lane '{lane}' (known lanes: {known})", "lane")


def rule_stage_and_sla(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """Every user/manual task carries a valid `stage` and a parsable `sla`."""
    for ts in defn.human_task_specs():
        props = properties_of(ts)
        eid = element_id(ts)
        stage = props.get("stage")
        if stage is None:
            yield LintIssue(eid, "missing property 'stage'", "stage")
        elif stage not in STAGES:
            yield LintIssue(eid, f"unknown stage '{stage}' (one of: {', '.join(STAGES)})", "stage")
        sla = props.get("sla")
        if sla is None:
            yield LintIssue(eid, "missing property 'sla' (e.g. '4bh' or '2bd')", "sla")
        else:
            try:
                parse_sla(sla)
            except ValueError as exc:
                yield LintIssue(eid, str(exc), "sla")
        waits = props.get("waits_on_client")
        if waits is not None and waits.lower() not in BOOLEAN_TEXT:
            yield LintIssue(eid, f"waits_on_client must be 'true' or 'false', not '{waits}'", "property")


AGENCY_RULES = (rule_known_lanes, rule_stage_and_sla)
