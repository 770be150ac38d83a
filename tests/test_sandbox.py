"""Tests for engine.sandbox: escapes are refused, ordinary code works."""

from __future__ import annotations

import builtins
import time
from types import ModuleType
from typing import Any

import pytest
from RestrictedPython.Guards import safer_getattr_raise
from RestrictedPython.transformer import INSPECT_ATTRIBUTES
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.sandbox import (
    SAFE_BUILTINS,
    RestrictedEnvironment,
    SandboxedScriptEngine,
    ScriptPolicyError,
    ScriptTimeoutError,
    check_expression,
    check_script,
)

FAST_LIMIT = 0.2


@pytest.fixture
def env() -> RestrictedEnvironment:
    return RestrictedEnvironment(time_limit=FAST_LIMIT)


def _data() -> dict[str, Any]:
    return {
        "decision": "approved",
        "budget": 20000,
        "cost_to_date": 19000,
        "budget_alert_ratio": 0.9,
        "options": {"pm_joins_scoping": 1},
        "additional_budget": 500,
        "change_order_decision": "approved",
        "items": [1, 2],
        "d": {},
        "total": 0,
        "suppliers": [{"cost": 3}, {"cost": 4.5}],
    }


# -- Ordinary code works ----------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("decision == 'approved'", True),
        ("budget > 10000", True),
        ("cost_to_date > budget * budget_alert_ratio", True),
        ('"P2D"', "P2D"),
        ('  "2026-01-01T09:00:00+00:00"\n', "2026-01-01T09:00:00+00:00"),
        ("sum(x['cost'] for x in suppliers)", 7.5),
        ("[i * 2 for i in items if i > 1]", [4]),
        ("{k: v for k, v in options.items()}", {"pm_joins_scoping": 1}),
        ("sorted(items, key=lambda v: -v)", [2, 1]),
        ("max(len(items), min(3, 4)) + abs(-1) + round(1.4)", 5),
        ("list(zip(items, reversed(items)))", [(1, 2), (2, 1)]),
        ("list(map(str, filter(lambda i: i > 1, items)))", ["2"]),
        ("any(i > 1 for i in items) and all(isinstance(i, int) for i in items)", True),
        ("list(range(3)) + list(enumerate('ab'))", [0, 1, 2, (0, "a"), (1, "b")]),
        ("(date(2026, 1, 1) + timedelta(days=2)).isoformat()", "2026-01-03"),
        ("datetime(2026, 1, 1, 9, tzinfo=timezone.utc).isoformat()", "2026-01-01T09:00:00+00:00"),
        ("2 ** 10 + (1 << 4) + len('ab' * 2) + len([0] * 3)", 1047),
    ],
)
def test_expressions_evaluate(env: RestrictedEnvironment, expression: str, expected: Any) -> None:
    assert env.evaluate(expression, _data()) == expected


def test_evaluate_leaves_task_data_untouched(env: RestrictedEnvironment) -> None:
    data = _data()
    env.evaluate("budget > 1", data)
    assert data == _data()


def test_script_semantics(env: RestrictedEnvironment) -> None:
    data = _data()
    script = "\n".join(
        [
            "pm_joins_scoping = bool(options.get('pm_joins_scoping', False))",
            "budget = budget + additional_budget if change_order_decision == 'approved' else budget",
            "items.append(3)",
            "d['k'] = 1",
            "total += 1",
            "squares = [i * i for i in range(4)]",
            "first, second = items[0], items[1]",
            "supplier_total = sum(x['cost'] for x in suppliers)",
            "def double(v):",
            "    return v * 2",
            "doubled = double(total)",
            "print('ignored')",
        ]
    )
    assert env.execute(script, data) is True
    assert data["pm_joins_scoping"] is True
    assert data["budget"] == 20500
    assert data["items"] == [1, 2, 3]
    assert data["d"] == {"k": 1}
    assert data["total"] == 1
    assert data["squares"] == [0, 1, 4, 9]
    assert (data["first"], data["second"]) == (1, 2)
    assert data["supplier_total"] == 7.5
    assert data["doubled"] == 2
    # Builtins, guards and functions defined by the script are removed.
    assert "__builtins__" not in data
    assert "double" not in data
    assert not [k for k in data if k.startswith("_")]


def test_environment_globals_and_overwrite_check() -> None:
    env = RestrictedEnvironment({"vat": lambda amount: amount * 0.2})
    data = {"net": 100}
    env.execute("gross = net + vat(net)", data)
    assert data == {"net": 100, "gross": 120.0}
    assert env.evaluate("vat(net)", data) == 20.0
    with pytest.raises(ValueError, match="overwrites a predefined function"):
        env.execute("x = 1", {"vat": 3})


def test_modules_cannot_be_given_as_globals() -> None:
    with pytest.raises(ValueError, match="module"):
        RestrictedEnvironment({"os": time})


def test_compiled_code_is_cached(env: RestrictedEnvironment) -> None:
    from engine.sandbox.policy import compile_source

    env.evaluate("budget > 123456", _data())
    before = compile_source.cache_info().hits
    env.evaluate("budget > 123456", _data())
    assert compile_source.cache_info().hits == before + 1


# -- Escapes are refused ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", "__import__"),
        ("().__class__.__base__.__subclasses__()", "__class__"),
        ("type(x).__subclasses__()", "__subclasses__"),
        ("eval('1')", "Eval calls are not allowed"),
        ("exec('1')", "Exec calls are not allowed"),
        ("(lambda: 1).__globals__", "__globals__"),
        ("(i for i in items).gi_frame", "gi_frame"),
        ("a ===", "SyntaxError"),
    ],
)
def test_expressions_refused_at_compile_time(env: RestrictedEnvironment, source: str, message: str) -> None:
    with pytest.raises(ScriptPolicyError, match=message):
        env.evaluate(source, {"x": 1, "items": []})
    error = check_expression(source)
    assert error is not None and message in error


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import os\nos.system('true')", "import statements are not allowed"),
        ("from os import system", "import statements are not allowed"),
        ("class A:\n    pass", "class definitions are not allowed"),
        ("x = 1\n_secret = 2", 'starts with "_"'),
    ],
)
def test_scripts_refused_at_compile_time(env: RestrictedEnvironment, source: str, message: str) -> None:
    with pytest.raises(ScriptPolicyError, match=message) as info:
        env.execute(source, {})
    assert info.value.lineno is not None and info.value.lineno >= 1
    error = check_script(source)
    assert error is not None and message in error


def test_check_functions_accept_valid_code() -> None:
    assert check_expression("budget > 10000") is None
    assert check_script("total += 1\nitems.append(3)") is None


@pytest.mark.parametrize(
    ("source", "exception", "message"),
    [
        ("getattr(x, '__class__')", NameError, "getattr"),
        ("open('/etc/passwd')", NameError, "open"),
        ("compile('1', 's', 'exec')", NameError, "compile"),
        ("globals()", NameError, "globals"),
        ("'{0.__class__}'.format(1)", NotImplementedError, "format"),
        ("str.format('{0.__class__}', 1)", NotImplementedError, "format"),
        ("'{x.__class__}'.format_map({'x': 1})", NotImplementedError, "format"),
        ("range(10 ** 9)", ValueError, "range"),
        ("2 ** 10 ** 8", ValueError, "limit"),
        ("pow(3, 10 ** 9)", ValueError, "limit"),
        ("1 << 10 ** 8", ValueError, "limit"),
        ("[0] * 10 ** 8", ValueError, "limit"),
        ("'a' * 10 ** 9", ValueError, "limit"),
        ("x.missing_attribute", AttributeError, "missing_attribute"),
    ],
)
def test_refused_at_run_time(env: RestrictedEnvironment, source: str, exception: type, message: str) -> None:
    with pytest.raises(exception, match=message):
        env.evaluate(source, {"x": 1})


def test_builtins_are_a_whitelist() -> None:
    for name in (
        "eval",
        "exec",
        "open",
        "compile",
        "__import__",
        "getattr",
        "setattr",
        "globals",
        "vars",
        "dir",
        "type",
        "object",
        "input",
        "breakpoint",
        "SystemExit",
        "BaseException",
        "__build_class__",
    ):
        assert name not in SAFE_BUILTINS, name


_DANGEROUS = {
    id(getattr(builtins, name))
    for name in (
        "eval",
        "exec",
        "open",
        "compile",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "input",
        "breakpoint",
        "exit",
        "quit",
        "type",
        "memoryview",
        "super",
    )
    if hasattr(builtins, name)
}


def _reachable(start: dict[str, Any], max_depth: int = 3) -> list[tuple[str, Any]]:
    """Everything a script can reach by name and non-underscore attributes."""
    seen: set[int] = set()
    found: list[tuple[str, Any]] = []
    frontier = list(start.items())
    for _ in range(max_depth + 1):
        next_frontier: list[tuple[str, Any]] = []
        for path, obj in frontier:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            found.append((path, obj))
            for attr in dir(obj):
                if attr.startswith("_") or attr in INSPECT_ATTRIBUTES:
                    continue
                try:
                    value = safer_getattr_raise(obj, attr)
                except Exception:
                    continue
                next_frontier.append((f"{path}.{attr}", value))
        frontier = next_frontier
    return found


def test_nothing_dangerous_is_reachable_from_the_globals(env: RestrictedEnvironment) -> None:
    namespace = env.build_globals()
    # Scripts can only name the builtins (guards start with "_").
    script_visible = {k: v for k, v in namespace.items() if not k.startswith("_")}
    script_visible.update(namespace["__builtins__"])
    script_visible.update(_data())
    # Reachable by calling, e.g. str.mro()[1]; the walk only follows attributes.
    script_visible["str.mro()"] = str.mro()
    script_visible["object"] = object
    reachable = _reachable(script_visible)
    assert len(reachable) > 500  # the walk really went through the types' attributes
    for path, obj in reachable:
        assert not isinstance(obj, ModuleType), path
        assert id(obj) not in _DANGEROUS, path
    for value in namespace.values():
        assert not isinstance(value, ModuleType)


# -- Time limit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        "while True: pass",
        "while True:\n    pass",
        "x = 0\nwhile x >= 0:\n    x += 1",
        "try:\n    while True: pass\nexcept Exception:\n    pass",
        "try:\n    while True: pass\nexcept:\n    pass\ndone = 1",
        "while True:\n    try:\n        while True: pass\n    except:\n        pass",
        "n = [1 for a in range(100000) for b in range(100000)]",
        "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nf(60)",
        "x = sorted(range(100000), key=lambda a: sorted(range(100000), key=lambda b: b))",
    ],
)
def test_runaway_scripts_are_stopped(env: RestrictedEnvironment, script: str) -> None:
    data: dict[str, Any] = {}
    start = time.monotonic()
    with pytest.raises(ScriptTimeoutError, match="time limit"):
        env.execute(script, data)
    assert time.monotonic() - start < FAST_LIMIT + 1.0


def test_runaway_expression_is_stopped(env: RestrictedEnvironment) -> None:
    with pytest.raises(ScriptTimeoutError):
        env.evaluate("sum(1 for a in range(100000) for b in range(100000))", {})


def test_default_time_limit_is_one_second() -> None:
    assert RestrictedEnvironment().time_limit == 1.0
    assert SandboxedScriptEngine().environment.time_limit == 1.0  # type: ignore[attr-defined]
    assert SandboxedScriptEngine(time_limit=0.5).environment.time_limit == 0.5  # type: ignore[attr-defined]


# -- Through SpiffWorkflow ------------------------------------------------------------

_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="defs" targetNamespace="http://example.com/sandbox-test">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="script" name="Compute" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f_big</bpmn:outgoing><bpmn:outgoing>f_small</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script" />
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="gw" />
    <bpmn:sequenceFlow id="f_big" sourceRef="gw" targetRef="review">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_small" sourceRef="gw" targetRef="end_small">
      <bpmn:conditionExpression>budget &lt;= 10000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:userTask id="review" name="Review budget">
      <bpmn:incoming>f_big</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end_big" />
    <bpmn:endEvent id="end_big"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_small"><bpmn:incoming>f_small</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

_SCRIPT = (
    "budget = float(options.get('budget', 0))\n"
    "total = 0\n"
    "total += sum(x['cost'] for x in suppliers)\n"
    "pm_joins_scoping = bool(options.get('pm_joins_scoping', False))"
)


def _workflow(script: str = _SCRIPT, condition: str = "budget &gt; 10000") -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(_BPMN.format(script=script, condition=condition).encode(), filename="test.bpmn")
    return BpmnWorkflow(parser.get_spec("proc"), script_engine=SandboxedScriptEngine(time_limit=FAST_LIMIT))


def _start(wf: BpmnWorkflow, **data: Any) -> None:
    start = wf.get_next_task(state=TaskState.READY)
    assert start is not None
    start.data.update(data)
    wf.do_engine_steps()


def test_workflow_runs_end_to_end() -> None:
    wf = _workflow()
    _start(wf, options={"budget": "25000", "pm_joins_scoping": True}, suppliers=[{"cost": 2}, {"cost": 3}])
    ready = wf.get_tasks(state=TaskState.READY, manual=True)
    assert [t.task_spec.name for t in ready] == ["review"]
    assert ready[0].data["budget"] == 25000.0
    assert ready[0].data["total"] == 5
    assert ready[0].data["pm_joins_scoping"] is True
    assert not [k for k in ready[0].data if k.startswith("_")]
    ready[0].run()
    wf.do_engine_steps()
    assert wf.completed

    small = _workflow()
    _start(small, options={}, suppliers=[])
    assert small.completed
    assert "end_small" in {t.task_spec.name for t in small.get_tasks(state=TaskState.COMPLETED)}


def test_workflow_script_import_is_refused() -> None:
    wf = _workflow(script="import os\nos.system('true')")
    with pytest.raises(WorkflowTaskException, match="import statements are not allowed") as info:
        _start(wf, options={}, suppliers=[])
    assert info.value.error_type == "ScriptPolicyError"
    assert info.value.line_number == 1


def test_workflow_condition_escape_is_refused() -> None:
    wf = _workflow(condition="__import__('os').system('true') == 0")
    with pytest.raises(WorkflowTaskException, match="__import__") as info:
        _start(wf, options={}, suppliers=[])
    assert info.value.error_type == "ScriptPolicyError"


def test_workflow_runaway_script_is_stopped() -> None:
    wf = _workflow(script="while True: pass")
    with pytest.raises(WorkflowTaskException, match="time limit"):
        _start(wf, options={}, suppliers=[])


def test_service_tasks_are_not_supported() -> None:
    wf = _workflow()
    task = wf.get_next_task(state=TaskState.READY)
    with pytest.raises(WorkflowTaskException, match="Service tasks are not supported"):
        SandboxedScriptEngine().call_service(task, operation_name="x", operation_params={})
