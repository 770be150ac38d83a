"""Instance facts: the current values of the workflow variables a definition names.

A definition lists them in a process-level property,
``<spiffworkflow:property name="facts" value="budget,cost_to_date" />`` in the process's
``extensionElements``. SpiffWorkflow keeps no process-level extensions, so the names are read
from the XML. Each step writes the facts that changed into ``workflow_instance.facts`` in its
own transaction, so reports can aggregate them in SQL without loading any workflow.

A fact's value is the one in the data of the latest task that completed carrying it; a fact
no completed task carries keeps its last value. Only JSON values are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from SpiffWorkflow.task import Task, TaskState

from .xmlsafe import parse_xml

FACTS_PROPERTY = "facts"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


def fact_names(bpmn_xml: str | bytes, process_id: str) -> tuple[str, ...]:
    """The fact names a process declares (empty when it declares none)."""
    raw = bpmn_xml.encode("utf-8") if isinstance(bpmn_xml, str) else bpmn_xml
    return fact_names_in(parse_xml(raw), process_id)


def fact_names_in(tree: Any, process_id: str) -> tuple[str, ...]:
    """Like `fact_names`, on an already parsed tree."""
    for process in tree.getroot().findall(f"{{{BPMN_NS}}}process"):
        if process.get("id") != process_id:
            continue
        # only the process's own extensionElements, not those of its tasks and lanes
        for extensions in process.findall(f"{{{BPMN_NS}}}extensionElements"):
            for prop in extensions.iter(f"{{{SPIFF_NS}}}property"):
                if prop.get("name") == FACTS_PROPERTY:
                    names = (name.strip() for name in (prop.get("value") or "").split(","))
                    return tuple(dict.fromkeys(name for name in names if name))
    return ()


def _json_value(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def step_facts(
    names: Iterable[str],
    previous: Mapping[str, Any] | None,
    changed: Iterable[tuple[str, Task]],
    since: float,
) -> dict[str, Any] | None:
    """The facts after a step: the previous ones updated from the tasks the step completed.

    Args:
        names: the fact names the definition declares.
        previous: the facts before the step (None: none stored yet).
        changed: (workflow key, task) pairs the step touched; only top-level tasks count.
        since: `time.time()` taken before the step; tasks completed earlier are ignored.

    Returns:
        The new facts, or None when the definition declares none.
    """
    wanted = tuple(names)
    if not wanted:
        return None
    facts = dict(previous or {})
    completed = [
        task
        for key, task in changed
        if key == "" and task._state == TaskState.COMPLETED and task.last_state_change >= since
    ]
    completed.sort(key=lambda task: task.last_state_change)
    for task in completed:
        data = task.data
        for name in wanted:
            if name in data and facts.get(name, _MISSING) != data[name] and _json_value(data[name]):
                facts[name] = data[name]
    return facts


_MISSING = object()
