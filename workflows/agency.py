"""The agency's vocabulary: stages, roles, lanes and the lint rules definitions must satisfy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.definitions import BPMN_NS, FORM_PROPERTY, ParsedDefinition, element_id, properties_of
from engine.errors import LintIssue
from engine.xmlsafe import parse_xml
from workflows.time.calendar import parse_sla

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
ACCOUNT_MANAGER = "account_manager"
PROJECT_MANAGER = "project_manager"
RESOURCE_MANAGER = "resource_manager"
OPS_LEAD = "ops_lead"
LEADERSHIP = "leadership"
ADMIN = "admin"
# every role a user may hold (a user may hold several)
ROLES: tuple[str, ...] = (OPS_LEAD, ACCOUNT_MANAGER, PROJECT_MANAGER, RESOURCE_MANAGER, LEADERSHIP, ADMIN)
# the roles an engagement's team fills, one person each
TEAM_ROLES: tuple[str, ...] = (ACCOUNT_MANAGER, PROJECT_MANAGER, RESOURCE_MANAGER)
AM_LANE = "Account Management"
PM_LANE = "Project Management"
# lane name -> role, for lanes that do not declare their role in the BPMN
LANE_ROLES: dict[str, str] = {AM_LANE: ACCOUNT_MANAGER, PM_LANE: PROJECT_MANAGER}
# <bpmn:lane><bpmn:extensionElements><spiffworkflow:properties>
#   <spiffworkflow:property name="role" value="account_manager"/> ...
ROLE_PROPERTY = "role"
# a user task with <spiffworkflow:property name="approval" value="true"/> is an approval step:
# its form has one `*_decision` field taking values from APPROVAL_DECISIONS and a `*_comment`
APPROVAL_PROPERTY = "approval"
APPROVED = "approved"
APPROVAL_DECISIONS: tuple[str, ...] = (APPROVED, "changes_requested", "rejected")
# a (multi-instance) task with <spiffworkflow:property name="role_from" value="approver"/> goes
# to the role named by its data item `approver` instead of its lane's role
ROLE_FROM_PROPERTY = "role_from"
WAITS_ON_CLIENT_PROPERTY = "waits_on_client"
# the clock a step's SLA runs on: agency (default; pauses while the client has the ball),
# client (what waits_on_client="true" says), always (agency work that never pauses)
SLA_CLOCK_PROPERTY = "sla_clock"
SLA_CLOCKS = ("agency", "client", "always")
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BOOLEAN_TEXT = {"true", "false"}


@dataclass(frozen=True)
class Lane:
    """A lane of a definition and the role it declares (None when it declares none)."""

    id: str
    name: str
    declared_role: str | None

    @property
    def role(self) -> str | None:
        """The declared role, else the standard role for the lane's name, else None."""
        return self.declared_role or LANE_ROLES.get(self.name)


def lanes_of(bpmn_xml: str | bytes) -> list[Lane]:
    """The lanes of a BPMN document with their declared roles.

    SpiffWorkflow keeps no extensions of lanes, so the roles are read from the XML itself.
    """
    raw = bpmn_xml.encode("utf-8") if isinstance(bpmn_xml, str) else bpmn_xml
    root = parse_xml(raw).getroot()
    lanes = []
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        declared = None
        for extensions in lane.findall(f"{{{BPMN_NS}}}extensionElements"):
            for prop in extensions.iter(f"{{{SPIFF_NS}}}property"):
                if prop.get("name") == ROLE_PROPERTY:
                    declared = (prop.get("value") or "").strip()
        lane_id = str(lane.get("id") or "")
        lanes.append(Lane(lane_id, str(lane.get("name") or lane_id), declared))
    return lanes


def lane_roles(bpmn_xml: str | bytes) -> dict[str, str]:
    """Lane name -> role for every lane whose role is known (declared or standard)."""
    return {lane.name: role for lane in lanes_of(bpmn_xml) if (role := lane.role) in ROLES}


def rule_lane_roles(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """Every lane is worked by a known role: declared in the lane, or standard for its name."""
    roles = ", ".join(ROLES)
    seen: dict[str, str | None] = {}
    documents = [defn.bpmn_xml, *(x for n, x in sorted(defn.files.items()) if not n.lower().endswith(".dmn"))]
    for lane in (lane for xml in documents for lane in lanes_of(xml)):
        role = lane.role
        if role is None:
            known = ", ".join(sorted(LANE_ROLES))
            yield LintIssue(
                lane.id or None,
                f"unknown lane '{lane.name}' without a role: declare one with "
                f'<spiffworkflow:property name="{ROLE_PROPERTY}" value="..."/> in the lane\'s '
                f"extensionElements (one of: {roles}); lanes known without one: {known}",
                "lane",
            )
        elif role not in ROLES:
            yield LintIssue(
                lane.id or None, f"lane '{lane.name}' has unknown role '{role}' (one of: {roles})", "lane"
            )
        elif lane.name in seen and seen[lane.name] != role:
            yield LintIssue(
                lane.id or None,
                f"two lanes are named '{lane.name}' with different roles ({seen[lane.name]}, {role})",
                "lane",
            )
        seen.setdefault(lane.name, role)


def rule_stage_and_sla(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """Every user/manual task carries a valid `stage` and a parsable `sla`."""
    for ts in defn.human_task_specs():
        props = properties_of(ts)
        eid = element_id(ts)
        stage = props.get("stage")
        if type(ts).__name__ == "NoneTask" and not props:
            # a plain bpmn:task drawn from the palette: Baton cannot tell who does it yet
            yield LintIssue(
                eid,
                "is a plain task: Baton needs a user task (who does it, in which stage, by when)",
                "plain-task",
                hint="select it and click 'Make it a user task' in the side panel, then set stage and SLA",
            )
            continue
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
        clock = props.get(SLA_CLOCK_PROPERTY)
        if clock is not None and clock not in SLA_CLOCKS:
            yield LintIssue(
                eid, f"sla_clock must be one of {', '.join(SLA_CLOCKS)}, not '{clock}'", "property"
            )
        elif clock is not None and is_true(props, WAITS_ON_CLIENT_PROPERTY) and clock != "client":
            yield LintIssue(
                eid, f"a step that waits on the client runs on the client's clock, not '{clock}'", "property"
            )
        for name in (WAITS_ON_CLIENT_PROPERTY, APPROVAL_PROPERTY):
            value = props.get(name)
            if value is not None and value.lower() not in BOOLEAN_TEXT:
                yield LintIssue(eid, f"{name} must be 'true' or 'false', not '{value}'", "property")


def is_true(props: Mapping[str, str], name: str) -> bool:
    """Whether a boolean task property is set to true."""
    return props.get(name, "").lower() == "true"


def decision_fields(schema: Any) -> tuple[str | None, str | None]:
    """The `*_decision` and `*_comment` fields of a form's JSON Schema (None when missing)."""
    fields = (schema or {}).get("properties") or {} if isinstance(schema, dict) else {}
    decision = next((f for f in fields if f.endswith("_decision")), None)
    comment = next((f for f in fields if f.endswith("_comment")), None)
    return decision, comment


def rule_approvals(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """Approval steps decide in the approval vocabulary and can say why; `role_from` names a role item."""
    vocabulary = ", ".join(APPROVAL_DECISIONS)
    for ts in defn.human_task_specs():
        props = properties_of(ts)
        eid = element_id(ts)
        if not is_true(props, APPROVAL_PROPERTY):
            continue
        form = props.get(FORM_PROPERTY)
        if form is None or form in defn.form_problems:
            yield LintIssue(eid, "an approval step needs a form with its decision", "approval")
            continue
        decision, comment = decision_fields(defn.forms.get(form))
        if decision is None:
            yield LintIssue(eid, f"form {form}: an approval step needs a '*_decision' field", "approval")
            continue
        values = (defn.forms[form]["properties"][decision] or {}).get("enum") or []
        unknown = [v for v in values if v not in APPROVAL_DECISIONS]
        if unknown or APPROVED not in values or len(values) < 2:
            yield LintIssue(
                eid,
                f"form {form}: '{decision}' must offer '{APPROVED}' and at least one more of: {vocabulary}"
                + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else ""),
                "approval",
            )
        if comment is None:
            yield LintIssue(
                eid,
                f"form {form}: an approval step needs a '*_comment' field (required unless approved)",
                "approval",
            )


AGENCY_RULES = (rule_lane_roles, rule_stage_and_sla, rule_approvals)

# what to do about each kind of agency issue (the registry adds it to issues without a hint)
AGENCY_HINTS = {
    "lane": "set the lane's role in the side panel (select the lane)",
    "stage": "select the step and pick its stage in the side panel",
    "sla": "select the step and give it an SLA in business time, e.g. 4bh or 2bd",
    "property": "select the step and correct the property in the side panel",
    "approval": "give the approval step a form with a '*_decision' choice and a '*_comment' field",
}
