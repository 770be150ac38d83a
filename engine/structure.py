"""What a definition must be to run, checked on its XML before and after SpiffWorkflow reads it.

Structure: every flow joins two steps of its process; each process has an end event; every step
is reached from a start and leads to an end; a gateway that chooses has a default flow or
conditions that cover every value of the form field they test (a condition that is literally
``True`` covers the rest). Runnability: Baton runs Python only (a JavaScript, Groovy, JUEL or
XSLT script is named as such), has no service connectors unless some are registered, and its
scripts may call only the sandbox's builtins. Call activities and business-rule tasks need their
process or decision table in the bundle. Each issue names the element (id and name) and a fix.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import LintIssue
from .sandbox import SAFE_BUILTINS, check_expression, check_script

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_B = f"{{{BPMN_NS}}}"

# the elements a token can stand on (sequence flows join them)
FLOW_NODES = frozenset(
    {
        "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
        "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
        "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
        "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
    }
)
SCOPES = frozenset({"process", "subProcess", "transaction", "adHocSubProcess"})
CHOOSING_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway"})
PYTHON_FORMATS = frozenset({"", "python", "python3", "text/python", "text/x-python", "py"})
LANGUAGE_NAMES = {
    "javascript": "JavaScript", "js": "JavaScript", "ecmascript": "JavaScript",
    "application/javascript": "JavaScript", "text/javascript": "JavaScript",
    "groovy": "Groovy", "juel": "JUEL", "xslt": "XSLT", "feel": "FEEL", "xpath": "XPath",
    "ruby": "Ruby", "jruby": "Ruby", "jython": "Jython", "kotlin": "Kotlin",
}
FUNCTIONS = frozenset(name for name, value in SAFE_BUILTINS.items() if callable(value))
# what a hint offers: the functions, not the exception classes
_SHOWN_FUNCTIONS = ", ".join(sorted(n for n in FUNCTIONS if n[:1].islower() and not n.startswith("_"))[:16])


def local(tag: Any) -> str:
    """The local name of an lxml tag ("" for comments and processing instructions)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def clean(text: str | None) -> str:
    """A name or expression on one line (editors let names hold line breaks)."""
    return " ".join((text or "").split())


def label(node: Any) -> str:
    """How a message names an element: 'Its name' (its_id), or just its id."""
    name, eid = clean(node.get("name")), node.get("id") or "?"
    return f"'{name}' ({eid})" if name and name != eid else eid


def element_names(root: Any) -> dict[str, str]:
    """Every element id of the document with its name on one line (ids without a name: "")."""
    return {str(e.get("id")): clean(e.get("name")) for e in root.iter() if e.get("id")}


def _language(raw: str | None) -> str | None:
    """None for Python; otherwise the language's readable name."""
    value = (raw or "").strip().lower()
    if value in PYTHON_FORMATS:
        return None
    return LANGUAGE_NAMES.get(value, raw)


# -- before the parser: flows that join nothing ------------------------------------------


def dangling_flows(root: Any) -> list[LintIssue]:
    """Sequence flows whose source or target is not a step of the same process.

    SpiffWorkflow's own message for these blames a nearby task ("found two items, perhaps a
    form has the same ID?"), so they are found first.
    """
    issues = []
    for scope in _scopes(root):
        nodes = {n.get("id") for n in _nodes(scope)}
        for flow in scope.findall(f"{_B}sequenceFlow"):
            for end, attr in (("starts at", "sourceRef"), ("ends at", "targetRef")):
                ref = flow.get(attr)
                if ref not in nodes:
                    what = f"'{ref}', which is not a step of this process" if ref else "nothing"
                    issues.append(
                        LintIssue(
                            flow.get("id"),
                            f"flow {label(flow)} {end} {what}",
                            "structure",
                            hint="connect both ends of the flow to steps, or delete it",
                        )
                    )
    return issues


def _scopes(root: Any) -> Iterator[Any]:
    for element in root.iter():
        if local(element.tag) in SCOPES:
            yield element


def _nodes(scope: Any) -> list[Any]:
    return [c for c in scope if local(c.tag) in FLOW_NODES]


# -- after the parser: the process graph -------------------------------------------------


def structure_issues(root: Any, process_ids: Collection[str]) -> Iterator[LintIssue]:
    """End events, reachability and loose steps of the processes Baton runs (and their
    embedded subprocesses)."""
    for process in root.findall(f"{_B}process"):
        if process.get("id") not in process_ids:
            continue
        yield from _scope_issues(process)
        for sub in process.iter():
            if sub is not process and local(sub.tag) in SCOPES:
                yield from _scope_issues(sub)


def _scope_issues(scope: Any) -> Iterator[LintIssue]:
    nodes = {n.get("id"): n for n in _nodes(scope)}
    if not nodes:
        return
    kind = "event subprocess" if scope.get("triggeredByEvent") == "true" else (
        "process" if local(scope.tag) == "process" else "subprocess"
    )
    outgoing: dict[str, list[str]] = {i: [] for i in nodes}
    incoming: dict[str, list[str]] = {i: [] for i in nodes}
    for flow in scope.findall(f"{_B}sequenceFlow"):
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        if source in nodes and target in nodes:
            outgoing[source].append(target)
            incoming[target].append(source)
    # a boundary event goes wherever its task goes
    for node_id, node in nodes.items():
        if local(node.tag) == "boundaryEvent" and node.get("attachedToRef") in nodes:
            outgoing[node.get("attachedToRef")].append(node_id)
    ends = [i for i, n in nodes.items() if local(n.tag) == "endEvent"]
    if not ends:
        yield LintIssue(
            scope.get("id"),
            f"{kind} {label(scope)} has no end event",
            "structure",
            hint="draw an end event and a flow into it from the last step",
        )
    starts = [i for i, n in nodes.items() if local(n.tag) == "startEvent"]
    if local(scope.tag) != "process" and scope.get("triggeredByEvent") != "true" and not starts:
        starts = [i for i in nodes if not incoming[i] and local(nodes[i].tag) != "boundaryEvent"]
    reached = _walk(starts, outgoing)
    # a step with no outgoing flow ends the path it is on (BPMN's implicit end), but Baton
    # asks for an end event so the diagram says where work finishes
    finishing = _walk(ends, incoming)
    for node_id, node in nodes.items():
        tag = local(node.tag)
        if tag == "boundaryEvent":
            attached = node.get("attachedToRef")
            if attached in nodes and attached not in reached:
                continue  # its task is named already
        loose = not incoming[node_id] and not outgoing[node_id] and tag not in ("startEvent", "boundaryEvent")
        if loose:
            yield LintIssue(
                node_id,
                f"{_what(node)} {label(node)} is not connected to anything",
                "structure",
                hint="draw a flow into it and one out of it, or delete it",
            )
            continue
        if node_id not in reached and tag != "boundaryEvent":
            yield LintIssue(
                node_id,
                f"{_what(node)} {label(node)} cannot be reached from the start event",
                "structure",
                hint="draw a flow into it from an earlier step, or delete it",
            )
        elif ends and node_id not in finishing:
            hint = (
                "draw a flow from it to the next step or to an end event"
                if not outgoing[node_id] or tag == "boundaryEvent"
                else "give the loop a way out: a flow that leads on to an end event"
            )
            yield LintIssue(
                node_id, f"{_what(node)} {label(node)} never leads to an end event", "structure", hint=hint
            )


def _walk(starts: Iterable[str], edges: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(edges.get(current, ()))
    return seen


def _what(node: Any) -> str:
    tag = local(node.tag)
    if tag.endswith("Gateway"):
        return "gateway"
    if tag.endswith("Event"):
        return "event"
    return "step"


# -- gateways ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    """One outgoing flow of a gateway and its condition (None: no condition)."""

    flow: Any
    condition: str | None


def gateway_issues(
    root: Any, process_ids: Collection[str], forms: Mapping[str, Any], *, forms_complete: bool = True
) -> Iterator[LintIssue]:
    """A choosing gateway needs a default flow or conditions that cannot all be false.

    Conditions are understood when they compare one form field with constants (``decision ==
    'approved'``, ``x in ('a', 'b')``), test a yes/no field (``flag``, ``not flag``, ``flag ==
    True``), or are literally ``True``; the values of the field come from its ``enum`` (or its
    boolean type) in the forms of the definition. With `forms_complete` false (a form could not be
    read, and is named already), a field no form offers is not reported again.
    """
    domains = _field_domains(forms)
    flows = {f.get("id"): f for f in root.iter(f"{_B}sequenceFlow")}
    for process in root.findall(f"{_B}process"):
        if process.get("id") not in process_ids:
            continue
        for gateway in process.iter():
            if local(gateway.tag) not in CHOOSING_GATEWAYS:
                continue
            out = [flows[f.get("id")] for f in flows.values() if f.get("sourceRef") == gateway.get("id")]
            if len(out) < 2 or gateway.get("default") in {f.get("id") for f in out}:
                continue
            branches = [Branch(f, _condition_text(f)) for f in out]
            yield from _check_branches(gateway, branches, domains, forms_complete)


def _condition_text(flow: Any) -> str | None:
    node = flow.find(f"{_B}conditionExpression")
    if node is None or not (node.text or "").strip():
        return None
    return str(node.text).strip()


def _check_branches(
    gateway: Any, branches: list[Branch], domains: Mapping[str, set[Any]], forms_complete: bool
) -> Iterator[LintIssue]:
    bare = [b for b in branches if b.condition is None]
    if bare:
        names = ", ".join(label(b.flow) for b in bare)
        yield LintIssue(
            gateway.get("id"),
            f"gateway {label(gateway)} has flows without a condition and no default: {names}",
            "gateway",
            hint="give each flow a condition, or mark the flow taken otherwise as the default",
        )
        return
    if any(_literal_true(b.condition) for b in branches) or not all(map(_parses, branches)):
        return  # covered; or a condition does not compile, which the expression check names
    covered: dict[str, set[Any]] = {}
    for branch in branches:
        found = _covers(str(branch.condition))
        if found is None:
            yield LintIssue(
                gateway.get("id"),
                f"gateway {label(gateway)} has no default flow, and whether its conditions cover every"
                f" case cannot be told from {clean(branch.condition)!r}",
                "gateway",
                hint="mark the flow taken otherwise as the default",
            )
            return
        field, values = found
        covered.setdefault(field, set()).update(values)
    if len(covered) != 1:
        yield LintIssue(
            gateway.get("id"),
            f"gateway {label(gateway)} tests several fields ({', '.join(sorted(covered))})"
            " and has no default flow",
            "gateway",
            hint="mark the flow taken otherwise as the default",
        )
        return
    ((field, values),) = covered.items()
    domain = domains.get(field)
    if domain is None and not forms_complete:
        return
    if domain is None:
        yield LintIssue(
            gateway.get("id"),
            f"gateway {label(gateway)} tests '{field}', which no form offers as a choice (an enum or yes/no"
            " field), and has no default flow",
            "gateway",
            hint=f"make '{field}' a choice in its step's form, or mark a default flow",
        )
        return
    missing = sorted(map(repr, domain - values))
    if missing:
        yield LintIssue(
            gateway.get("id"),
            f"gateway {label(gateway)} has no flow for {field} = {', '.join(missing)} and no default flow",
            "gateway",
            hint="add a flow for those values, or mark one flow as the default",
        )


def _parses(branch: Branch) -> bool:
    return check_expression(branch.condition or "") is None


def _literal_true(condition: str | None) -> bool:
    try:
        return ast.literal_eval((condition or "").strip()) is True
    except (ValueError, SyntaxError):
        return False


def _covers(condition: str) -> tuple[str, set[Any]] | None:
    """(field, the values for which the condition holds), when the condition is that simple."""
    try:
        node = ast.parse(condition, mode="eval").body
    except SyntaxError:
        return None
    return _covers_node(node)


def _covers_node(node: ast.AST) -> tuple[str, set[Any]] | None:
    if isinstance(node, ast.Name):
        return node.id, {True}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and isinstance(node.operand, ast.Name):
        return node.operand.id, {False}
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        parts = [_covers_node(v) for v in node.values]
        if any(p is None for p in parts) or len({p[0] for p in parts if p}) != 1:
            return None
        return parts[0][0] if parts[0] else "", set().union(*(p[1] for p in parts if p))
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)):
        return None
    field, op, right = node.left.id, node.ops[0], node.comparators[0]
    try:
        value = ast.literal_eval(right)
    except (ValueError, SyntaxError):
        return None
    if isinstance(op, ast.Eq | ast.Is):
        return field, {value}
    if isinstance(op, ast.In) and isinstance(value, list | tuple | set | frozenset):
        return field, set(value)
    return None


def _field_domains(forms: Mapping[str, Any]) -> dict[str, set[Any]]:
    domains: dict[str, set[Any]] = {}
    for schema in forms.values():
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        for name, prop in (properties or {}).items():
            if not isinstance(prop, Mapping):
                continue
            if isinstance(prop.get("enum"), list):
                domains.setdefault(name, set()).update(v for v in prop["enum"] if v is not None)
            elif prop.get("type") == "boolean":
                domains.setdefault(name, set()).update({True, False})
    return domains


# -- what Baton cannot run ------------------------------------------------------------------


def runnable_issues(
    root: Any,
    process_ids: Collection[str],
    *,
    processes: Collection[str],
    decisions: Collection[str],
    connectors: Collection[str] = (),
) -> Iterator[LintIssue]:
    """Constructs the engine cannot run, each refused by name with what to do instead.

    Args:
        root: the main document's root.
        process_ids: the processes of the document Baton runs.
        processes: every process id of the bundle (what a call activity may call).
        decisions: every DMN decision id of the bundle.
        connectors: service-task operators the application registered.
    """
    for process in root.findall(f"{_B}process"):
        if process.get("id") not in process_ids:
            continue
        for node in process.iter():
            tag = local(node.tag)
            if tag == "serviceTask":
                yield from _service_task(node, connectors)
            elif tag == "scriptTask":
                yield from _script_task(node)
            elif tag == "callActivity":
                called = node.get("calledElement")
                if called and called not in processes:
                    yield LintIssue(
                        node.get("id"),
                        f"call activity {label(node)} calls process '{called}', which is not in this bundle",
                        "call",
                        hint=f"add the BPMN file of process '{called}' to the files you deploy"
                        " (or a zip of them)",
                    )
            elif tag == "businessRuleTask":
                yield from _business_rule(node, decisions)
            elif tag == "sequenceFlow":
                yield from _flow_condition(node)


def _service_task(node: Any, connectors: Collection[str]) -> Iterator[LintIssue]:
    operator = node.find(f".//{{{SPIFF_NS}}}serviceTaskOperator")
    name = operator.get("id") if operator is not None else None
    camunda = next(
        (node.get(f"{{{CAMUNDA_NS}}}{a}") for a in ("class", "delegateExpression", "expression", "topic")
         if node.get(f"{{{CAMUNDA_NS}}}{a}")),
        None,
    )
    if name and name in connectors:
        return
    calls = f" ('{name or clean(camunda)}')" if (name or camunda) else ""
    yield LintIssue(
        node.get("id"),
        f"service task {label(node)} calls a connector{calls}, and Baton has no connector registered for it",
        "service",
        hint="make it a user task (someone does it) or a Python script task",
    )


def _script_task(node: Any) -> Iterator[LintIssue]:
    language = _language(node.get("scriptFormat"))
    if language is not None:
        yield LintIssue(
            node.get("id"),
            f"script task {label(node)}: Baton runs Python scripts; this one is {language}",
            "script-format",
            hint='rewrite the script in Python and set its format to "python"',
        )
        return
    if node.find(f"{_B}script") is None and node.get(f"{{{CAMUNDA_NS}}}resource"):
        yield LintIssue(
            node.get("id"),
            f"script task {label(node)} loads its script from '{node.get(f'{{{CAMUNDA_NS}}}resource')}'",
            "script-format",
            hint="paste the script, in Python, into the task itself",
        )
        return
    script = node.find(f"{_B}script")
    if script is not None and script.text:
        yield from _unknown_functions(node, script.text, "script")


def _business_rule(node: Any, decisions: Collection[str]) -> Iterator[LintIssue]:
    called = node.find(f".//{{{SPIFF_NS}}}calledDecisionId")
    decision = (called.text or "").strip() if called is not None else node.get(f"{{{CAMUNDA_NS}}}decisionRef")
    if not decision:
        yield LintIssue(
            node.get("id"),
            f"business rule task {label(node)} names no decision table",
            "decision",
            hint="pick the DMN decision it evaluates (its id) in the side panel",
        )
    elif decision not in decisions:
        yield LintIssue(
            node.get("id"),
            f"business rule task {label(node)} evaluates decision '{decision}', which is not in this bundle",
            "decision",
            hint=f"add the .dmn file defining decision '{decision}' to the files you deploy",
        )


def _flow_condition(flow: Any) -> Iterator[LintIssue]:
    condition = flow.find(f"{_B}conditionExpression")
    if condition is None or not (condition.text or "").strip():
        return
    text = str(condition.text).strip()
    language = _language(condition.get("language"))
    if language is None and text.startswith(("${", "#{")):
        language = "JUEL"
    if language is not None:
        yield LintIssue(
            flow.get("id"),
            f"the condition of flow {label(flow)} is {language} ({clean(text)!r});"
            " Baton runs Python conditions",
            "condition-language",
            hint="write it as a Python expression over the form's fields, e.g. decision == 'approved'",
        )
        return
    yield from _unknown_functions(flow, text, "condition")


def _unknown_functions(node: Any, source: str, what: str) -> Iterator[LintIssue]:
    refused = check_script(source) if what == "script" else check_expression(source)
    if refused is not None:
        return  # the sandbox's compile check names it
    tree = ast.parse(source, mode="exec")
    # names the code binds itself (assignments, loops, comprehensions, functions)
    defined = {
        sub.id for sub in ast.walk(tree) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)
    }
    defined |= {sub.name for sub in ast.walk(tree) if isinstance(sub, ast.FunctionDef)}
    unknown = sorted(
        {
            sub.func.id
            for sub in ast.walk(tree)
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
            and sub.func.id not in FUNCTIONS and sub.func.id not in defined
        }
    )
    for name in unknown:
        yield LintIssue(
            node.get("id"),
            f"the {what} of {label(node)} calls {name}(), which Baton does not have",
            "function",
            hint=f"use Python's basic functions ({_SHOWN_FUNCTIONS}, ...) on the task's data",
        )
