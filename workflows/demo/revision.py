"""A revised engagement process, the version a process review would deploy next.

Built from ``definitions/engagement.bpmn`` by four edits a process review typically asks for, so
that the demo, the tests and the benchmarks can move running engagements onto it:

* **a step ahead**: *Legal review* (PM lane, stage qc) now comes after a passed QC, before the
  client sees the work;
* **a step behind removed**: *Prepare pitch* is gone, an engagement opens at *Record pitch outcome*;
* **an open step changed**: *Approve brief* has a 4 business-hour SLA (was 1 business day) and its
  form asks whether the brand guidelines were checked;
* **a step renamed**: *Plan timeline* has the id ``plan_timeline`` (was ``timeline_plan``), so the
  migration needs the mapping `RENAMED`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from lxml import etree

from engine.definitions import BPMN_NS
from engine.xmlsafe import parse_xml
from workflows.agency import SPIFF_NS

DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DD_DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
NS = {"bpmn": BPMN_NS, "bpmndi": DI_NS, "dc": DC_NS, "di": DD_DI_NS, "spiffworkflow": SPIFF_NS}

RENAMED = {"timeline_plan": "plan_timeline"}  # old id -> new id
LEGAL_FORM = "legal_review.schema.json"
LEGAL_REVIEW_FORM: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Legal review",
    "description": "Legal checks claims, rights and usage before the client sees the work.",
    "type": "object",
    "properties": {
        "legal_cleared": {"type": "boolean", "title": "Cleared by legal"},
        "legal_notes": {"type": "string", "title": "Notes", "maxLength": 4000},
    },
    "required": ["legal_cleared"],
    "additionalProperties": False,
}


def revised_engagement(definitions_dir: Path) -> tuple[str, dict[str, Any]]:
    """The revised process: its BPMN XML and every form it references (file name -> schema)."""
    tree = parse_xml((definitions_dir / "engagement.bpmn").read_bytes())
    root = tree.getroot()
    _remove_pitch_prepare(root)
    _add_legal_review(root)
    _change_brief_approval(root)
    _rename(root, "timeline_plan", RENAMED["timeline_plan"])
    forms: dict[str, Any] = {}
    refs = [
        *root.iterfind(".//spiffworkflow:property[@name='formJsonSchemaFilename']", NS),
        *root.iterfind(".//spiffworkflow:property[@name='optionsJsonSchemaFilename']", NS),
    ]
    for ref in refs:
        name = ref.get("value")
        path = definitions_dir / "forms" / name
        if path.exists():
            forms[name] = json.loads(path.read_text(encoding="utf-8"))
    forms[LEGAL_FORM] = copy.deepcopy(LEGAL_REVIEW_FORM)
    approve = forms["brief_approve.schema.json"]
    approve["properties"]["brand_checked"] = {"type": "boolean", "title": "Brand guidelines checked"}
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
    return xml, forms


def _one(root: Any, path: str) -> Any:
    found = root.find(path, NS)
    if found is None:
        raise ValueError(f"engagement.bpmn has no {path}")
    return found


def _drop(element: Any) -> None:
    element.getparent().remove(element)


def _remove_pitch_prepare(root: Any) -> None:
    _drop(_one(root, ".//bpmn:userTask[@id='pitch_prepare']"))
    _drop(_one(root, ".//bpmn:sequenceFlow[@id='flow_pitch_prepared']"))
    _drop(_one(root, ".//bpmn:lane/bpmn:flowNodeRef[.='pitch_prepare']"))
    _drop(_one(root, ".//bpmndi:BPMNShape[@bpmnElement='pitch_prepare']"))
    _drop(_one(root, ".//bpmndi:BPMNEdge[@bpmnElement='flow_pitch_prepared']"))
    _one(root, ".//bpmn:sequenceFlow[@id='flow_options_to_pitch']").set("targetRef", "pitch_outcome")
    _one(root, ".//bpmn:userTask[@id='pitch_outcome']/bpmn:incoming").text = "flow_options_to_pitch"
    points = _one(root, ".//bpmndi:BPMNEdge[@bpmnElement='flow_options_to_pitch']").findall("di:waypoint", NS)
    points[-1].set("x", "696")


def _add_legal_review(root: Any) -> None:
    qc = _one(root, ".//bpmn:userTask[@id='qc_check']")
    legal = copy.deepcopy(qc)
    legal.set("id", "legal_review")
    legal.set("name", "Legal review")
    props = {p.get("name"): p for p in legal.iterfind(".//spiffworkflow:property", NS)}
    props["formJsonSchemaFilename"].set("value", LEGAL_FORM)
    props["sla"].set("value", "1bd")
    _one(
        legal, ".//spiffworkflow:instructionsForEndUser"
    ).text = "Check claims, rights and usage in the work before the client sees it."
    for flow in legal.findall("bpmn:incoming", NS) + legal.findall("bpmn:outgoing", NS):
        legal.remove(flow)
    etree.SubElement(legal, f"{{{BPMN_NS}}}incoming").text = "flow_qc_pass"
    etree.SubElement(legal, f"{{{BPMN_NS}}}outgoing").text = "flow_legal_done"
    qc.addnext(legal)
    _one(root, ".//bpmn:sequenceFlow[@id='flow_qc_pass']").set("targetRef", "legal_review")
    _one(root, ".//bpmn:userTask[@id='client_feedback']/bpmn:incoming").text = "flow_legal_done"
    done = etree.Element(
        f"{{{BPMN_NS}}}sequenceFlow",
        id="flow_legal_done",
        sourceRef="legal_review",
        targetRef="client_feedback",
    )
    _one(root, ".//bpmn:sequenceFlow[@id='flow_qc_pass']").addnext(done)
    lane_ref = _one(root, ".//bpmn:lane/bpmn:flowNodeRef[.='qc_check']")
    ref = copy.deepcopy(lane_ref)
    ref.text = "legal_review"
    lane_ref.addnext(ref)
    # drawn below the QC gateway, in the PM lane; the pass flow now bends down into it
    shape = copy.deepcopy(_one(root, ".//bpmndi:BPMNShape[@bpmnElement='qc_check']"))
    shape.set("id", "legal_review_di")
    shape.set("bpmnElement", "legal_review")
    bounds = _one(shape, "dc:Bounds")
    bounds.set("x", "5056")
    bounds.set("y", "540")
    _one(root, ".//bpmndi:BPMNShape[@bpmnElement='qc_check']").addnext(shape)
    edge = _one(root, ".//bpmndi:BPMNEdge[@bpmnElement='flow_qc_pass']")
    for point in edge.findall("di:waypoint", NS):
        edge.remove(point)
    label = edge.find("bpmndi:BPMNLabel", NS)
    for i, (x, y) in enumerate([(4951, 490), (4951, 580), (5056, 580)]):
        point = etree.Element(f"{{{DD_DI_NS}}}waypoint", x=str(x), y=str(y))
        if label is not None:
            label.addprevious(point)
        else:
            edge.insert(i, point)
    new_edge = etree.Element(f"{{{DI_NS}}}BPMNEdge", id="flow_legal_done_di", bpmnElement="flow_legal_done")
    for x, y in [(5106, 540), (5106, 200)]:
        etree.SubElement(new_edge, f"{{{DD_DI_NS}}}waypoint", x=str(x), y=str(y))
    edge.addnext(new_edge)


def _change_brief_approval(root: Any) -> None:
    approve = _one(root, ".//bpmn:userTask[@id='brief_approve']")
    _one(approve, ".//spiffworkflow:property[@name='sla']").set("value", "4bh")


def _rename(root: Any, old: str, new: str) -> None:
    _one(root, f".//bpmn:userTask[@id='{old}']").set("id", new)
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        for end in ("sourceRef", "targetRef"):
            if flow.get(end) == old:
                flow.set(end, new)
    _one(root, f".//bpmn:lane/bpmn:flowNodeRef[.='{old}']").text = new
    shape = _one(root, f".//bpmndi:BPMNShape[@bpmnElement='{old}']")
    shape.set("bpmnElement", new)
    shape.set("id", f"{new}_di")
