"""What changed between two versions of a definition, element by element, in words.

Both BPMN documents are parsed with `engine.xmlsafe` (they were uploaded by people). An element
is matched across versions by its BPMN id: present only in the newer one it was *added*, only in
the older one *removed*, in both with a different name, lane, Baton property (stage, SLA, form,
role...), instructions, flow ends or condition it *changed*. The forms travel with each version,
so a task whose form's fields changed is changed too, even when its BPMN did not move.
Diagram positions are not compared: moving a box is not a change of the process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.definitions import BPMN_NS, FORM_PROPERTY
from engine.xmlsafe import parse_xml
from workflows.agency import SPIFF_NS

ADDED, REMOVED, CHANGED = "added", "removed", "changed"

# BPMN element tags compared, by what people call them
KINDS: dict[str, str] = {
    "userTask": "task",
    "manualTask": "task",
    "task": "task",
    "scriptTask": "script",
    "serviceTask": "service task",
    "businessRuleTask": "rule task",
    "sendTask": "task",
    "receiveTask": "task",
    "callActivity": "call activity",
    "subProcess": "subprocess",
    "startEvent": "start event",
    "endEvent": "end event",
    "intermediateCatchEvent": "event",
    "intermediateThrowEvent": "event",
    "boundaryEvent": "boundary event",
    "exclusiveGateway": "gateway",
    "parallelGateway": "gateway",
    "inclusiveGateway": "gateway",
    "eventBasedGateway": "gateway",
    "sequenceFlow": "flow",
    "lane": "lane",
}
# property names as the side panel labels them
PROPERTY_LABELS = {
    "sla": "SLA",
    "stage": "Stage",
    FORM_PROPERTY: "Form",
    "role": "Role",
    "approval": "Approval",
    "role_from": "Role from",
    "waits_on_client": "Waits on client",
    "sla_clock": "SLA clock",
}


@dataclass(frozen=True)
class Element:
    """What is compared of one BPMN element."""

    id: str
    kind: str  # task, gateway, flow, lane... (see KINDS)
    name: str
    lane: str | None = None  # the lane's name, for flow nodes in a lane
    properties: Mapping[str, str] = field(default_factory=dict)
    instructions: str = ""
    script: str = ""  # a script task's script, and any task's pre- and post-script
    source: str | None = None  # flows: the ids of their ends
    target: str | None = None
    condition: str = ""
    timer: str = ""

    @property
    def label(self) -> str:
        """The element as a sentence names it: its name, else its id."""
        return self.name or self.id


@dataclass(frozen=True)
class Change:
    """One element added, removed or changed, with what changed in words."""

    element_id: str
    kind: str  # ADDED, REMOVED or CHANGED
    element: str  # task, gateway, flow...
    label: str
    details: tuple[str, ...]  # one sentence per difference (one for an added/removed element)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the page's script."""
        return {
            "element_id": self.element_id,
            "kind": self.kind,
            "element": self.element,
            "label": self.label,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class DefinitionDiff:
    """Every change from an older version to a newer one, added first, then changed, then removed."""

    changes: tuple[Change, ...]

    def ids(self, kind: str) -> list[str]:
        """The element ids of one kind of change (to mark them in the diagrams)."""
        return [c.element_id for c in self.changes if c.kind == kind]

    def __bool__(self) -> bool:
        return bool(self.changes)


def elements_of(bpmn_xml: str | bytes) -> dict[str, Element]:
    """The compared elements of a BPMN document, by id.

    Raises:
        engine.xmlsafe.XmlError: the document is not safe, well-formed XML.
    """
    raw = bpmn_xml.encode("utf-8") if isinstance(bpmn_xml, str) else bpmn_xml
    root = parse_xml(raw).getroot()
    lane_of: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        name = lane.get("name") or lane.get("id") or ""
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            lane_of[(ref.text or "").strip()] = name
    found: dict[str, Element] = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or not node.tag.startswith(f"{{{BPMN_NS}}}"):
            continue
        kind = KINDS.get(etree.QName(node).localname)
        element_id = node.get("id")
        if kind is None or not element_id:
            continue
        found[element_id] = Element(
            id=element_id,
            kind=kind,
            name=" ".join((node.get("name") or "").split()),
            lane=lane_of.get(element_id),
            properties=_properties(node),
            instructions=_text(node, f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}instructionsForEndUser"),
            script=" | ".join(
                text
                for path in (
                    f"{{{BPMN_NS}}}script",
                    f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}preScript",
                    f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}postScript",
                )
                if (text := _text(node, path))
            ),
            source=node.get("sourceRef"),
            target=node.get("targetRef"),
            condition=_text(node, f"{{{BPMN_NS}}}conditionExpression"),
            timer=" ".join(
                _text(node, f"{{{BPMN_NS}}}timerEventDefinition/{{{BPMN_NS}}}{what}")
                for what in ("timeDuration", "timeDate", "timeCycle")
            ).strip(),
        )
    return found


def _properties(node: Any) -> dict[str, str]:
    # the element's own extensionElements only: a subprocess's children have theirs
    props: dict[str, str] = {}
    for extensions in node.findall(f"{{{BPMN_NS}}}extensionElements"):
        for prop in extensions.iter(f"{{{SPIFF_NS}}}property"):
            if prop.get("name"):
                props[str(prop.get("name"))] = str(prop.get("value") or "")
    return props


def _text(node: Any, path: str) -> str:
    # a path below the element itself: a subprocess's children keep their own texts
    child = node.find(path)
    return " ".join((child.text or "").split()) if child is not None else ""


def diff_definitions(
    old_xml: str | bytes,
    new_xml: str | bytes,
    old_forms: Mapping[str, Any] | None = None,
    new_forms: Mapping[str, Any] | None = None,
) -> DefinitionDiff:
    """The changes from `old_xml` (with its forms) to `new_xml` (with its forms).

    Raises:
        engine.xmlsafe.XmlError: a document is not safe, well-formed XML.
    """
    old, new = elements_of(old_xml), elements_of(new_xml)
    names = {**{k: e.label for k, e in old.items()}, **{k: e.label for k, e in new.items()}}
    added = [_added(e, names) for k, e in new.items() if k not in old]
    removed = [_removed(e, names) for k, e in old.items() if k not in new]
    changed = []
    for key, after in new.items():
        before = old.get(key)
        if before is None:
            continue
        details = _differences(before, after, names) + _form_differences(
            before, after, old_forms or {}, new_forms or {}
        )
        if details:
            changed.append(Change(key, CHANGED, after.kind, after.label, tuple(details)))
    return DefinitionDiff(tuple(added + changed + removed))


def _flow_words(e: Element, names: Mapping[str, str]) -> str:
    return f"{names.get(e.source or '', e.source)} → {names.get(e.target or '', e.target)}"


def _added(e: Element, names: Mapping[str, str]) -> Change:
    if e.kind == "flow":
        text = f"Added flow {_flow_words(e, names)}" + (f" ({e.name})" if e.name else "")
    else:
        text = f"Added {e.kind} {e.label}" + (f" in lane {e.lane}" if e.lane else "")
        extras = [f"{PROPERTY_LABELS.get(k, k)} {v}" for k, v in e.properties.items() if k in PROPERTY_LABELS]
        if extras:
            text += f" ({', '.join(extras)})"
    return Change(e.id, ADDED, e.kind, e.label, (text,))


def _removed(e: Element, names: Mapping[str, str]) -> Change:
    if e.kind == "flow":
        text = f"Removed flow {_flow_words(e, names)}" + (f" ({e.name})" if e.name else "")
    else:
        text = f"Removed {e.kind} {e.label}" + (f" from lane {e.lane}" if e.lane else "")
    return Change(e.id, REMOVED, e.kind, e.label, (text,))


def _quoted(value: str) -> str:
    return f"“{value}”" if value else "none"


def _differences(a: Element, b: Element, names: Mapping[str, str]) -> list[str]:
    what = f"{b.kind} {b.label}" if b.kind in ("flow", "lane") else b.label
    out: list[str] = []
    if a.kind != b.kind:
        out.append(f"{a.label} is now a {b.kind} (was a {a.kind})")
    if a.name != b.name:
        out.append(f"Renamed {a.kind} {_quoted(a.name)} to {_quoted(b.name)}")
    if a.lane != b.lane:
        out.append(f"Moved {b.label} from lane {a.lane or 'none'} to lane {b.lane or 'none'}")
    for key in sorted(set(a.properties) | set(b.properties)):
        before, after = a.properties.get(key), b.properties.get(key)
        if before == after:
            continue
        label = PROPERTY_LABELS.get(key, key)
        if before is None:
            out.append(f"{label} of {b.label} set to {after}")
        elif after is None:
            out.append(f"{label} of {b.label} removed (was {before})")
        else:
            out.append(f"{label} of {b.label}: {before} → {after}")
    if (a.source, a.target) != (b.source, b.target):
        out.append(f"Flow {b.label} now goes {_flow_words(b, names)} (was {_flow_words(a, names)})")
    if a.condition != b.condition:
        out.append(f"Condition of {what}: {_quoted(a.condition)} → {_quoted(b.condition)}")
    if a.instructions != b.instructions:
        out.append(f"Instructions of {b.label} changed")
    if a.script != b.script:
        out.append(f"Script of {b.label} changed")
    if a.timer != b.timer:
        out.append(f"Timer of {b.label}: {_quoted(a.timer)} → {_quoted(b.timer)}")
    return out


def _schema(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def _form_differences(
    a: Element, b: Element, old_forms: Mapping[str, Any], new_forms: Mapping[str, Any]
) -> list[str]:
    """The field changes of the form a task keeps (a new form file is a property change)."""
    name = b.properties.get(FORM_PROPERTY)
    if not name or a.properties.get(FORM_PROPERTY) != name:
        return []
    before, after = _schema(old_forms.get(name)), _schema(new_forms.get(name))
    if before == after:
        return []
    return [f"Form of {b.label}: {text}" for text in form_changes(before, after)] or [
        f"Form of {b.label} changed ({name})"
    ]


def form_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The field-level differences between two JSON Schema forms, in words."""
    old_props = before.get("properties") or {}
    new_props = after.get("properties") or {}
    old_required, new_required = set(before.get("required") or []), set(after.get("required") or [])
    out: list[str] = []
    for key, prop in new_props.items():
        title = _field_title(key, prop)
        if key not in old_props:
            out.append(f"added {'required ' if key in new_required else ''}field {title}")
            continue
        if prop != old_props[key]:
            out.append(f"field {title} changed")
        if (key in old_required) != (key in new_required):
            out.append(f"field {title} {'now required' if key in new_required else 'now optional'}")
    for key, prop in old_props.items():
        if key not in new_props:
            out.append(f"removed field {_field_title(key, prop)}")
    if list(k for k in new_props if k in old_props) != list(k for k in old_props if k in new_props):
        out.append("fields reordered")
    if before.get("title") != after.get("title"):
        out.append(
            f"title {_quoted(str(before.get('title') or ''))} → {_quoted(str(after.get('title') or ''))}"
        )
    return out


def _field_title(key: str, prop: Any) -> str:
    title = prop.get("title") if isinstance(prop, Mapping) else None
    return f"“{title or key}”"
