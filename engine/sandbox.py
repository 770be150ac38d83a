"""Sandboxed script engine for SpiffWorkflow.

Script tasks, pre/post scripts, gateway conditions and timer expressions are
code typed by people who are not the server's operators, so they run under a
RestrictedPython policy:

* code is compiled with :func:`RestrictedPython.compile_restricted` (plus a few
  extra rules below), so names and attributes starting with ``_`` are refused
  and every attribute access goes through ``safer_getattr``;
* the only builtins are a whitelist of harmless functions and types; no module
  is reachable from the namespace;
* ``import``, ``class`` and ``eval``/``exec`` are compile-time errors;
* ``**``, ``<<`` and ``*`` go through guards that refuse results too big to
  compute quickly (a single huge C-level operation cannot be interrupted);
* every loop iteration, comprehension step and function call runs a deadline
  check, so runaway code stops with :class:`ScriptTimeoutError`.

Limitations: memory is not bounded (``s = s + s`` in a loop, ``'%*d' % (10**9, 1)``);
run workers under an OS memory limit for hard isolation.
"""

from __future__ import annotations

import ast
import operator
import re
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from types import CodeType, ModuleType
from typing import Any, Literal, NamedTuple, TypeVar, cast

from RestrictedPython import PrintCollector, compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)
from RestrictedPython.transformer import RestrictingNodeTransformer
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "MAX_INT_BITS",
    "MAX_RANGE",
    "MAX_SEQUENCE_LENGTH",
    "SAFE_BUILTINS",
    "RestrictedEnvironment",
    "SandboxError",
    "SandboxedScriptEngine",
    "ScriptPolicyError",
    "ScriptTimeoutError",
    "ServiceTaskNotSupportedError",
    "check_expression",
    "check_script",
]

DEFAULT_TIME_LIMIT = 1.0
MAX_RANGE = 100_000
MAX_SEQUENCE_LENGTH = 1_000_000
MAX_INT_BITS = 100_000
# Upstream's line-number lookup searches the traceback for this file name.
_FILENAME = "<string>"
_COMPILE_CACHE_SIZE = 2048


class SandboxError(Exception):
    """Base class for errors raised by the sandbox itself."""


class ScriptPolicyError(SandboxError, SyntaxError):
    """The source does not compile, or uses something the policy forbids.

    A ``SyntaxError`` subclass so SpiffWorkflow reports its line number.
    """

    def __str__(self) -> str:
        return str(self.msg)


class ScriptTimeoutError(SandboxError):
    """The code ran longer than the configured time limit."""


class ServiceTaskNotSupportedError(SandboxError):
    """Service tasks cannot be run by the sandboxed engine."""


class _DeadlineExceeded(BaseException):
    """BaseException so that ``except Exception`` in a script cannot swallow it."""


def _safe_range(*args: int) -> range:
    """``range`` capped at MAX_RANGE elements."""
    r = range(*args)
    try:
        size = len(r)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise ValueError(f"range() of {size} elements is above the sandbox limit of {MAX_RANGE}")
    return r


def _check_int_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise ValueError(f"{what} would produce an integer above the sandbox limit of {MAX_INT_BITS} bits")


def _guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    """``pow``/``**`` refusing integer results too big to compute quickly."""
    if mod is None and isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1:
        _check_int_bits(base.bit_length() * exp, "**")
    return pow(base, exp, mod)


def _guarded_lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and a:
        _check_int_bits(a.bit_length() + b, "<<")
    return a << b


_SEQUENCES = (str, bytes, list, tuple)


def _check_repeat(length: int, times: int) -> None:
    if length * times > MAX_SEQUENCE_LENGTH:
        raise ValueError(f"sequence repetition above the sandbox limit of {MAX_SEQUENCE_LENGTH} items")


def _guarded_mul(a: Any, b: Any) -> Any:
    """``*`` refusing huge sequence repetition and huge integer products."""
    if isinstance(a, int) and isinstance(b, int):
        _check_int_bits(a.bit_length() + b.bit_length(), "*")
    elif isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_repeat(len(a), b)
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_repeat(len(b), a)
    return a * b


_INPLACE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": _guarded_mul,
    "/=": operator.itruediv,
    "%=": operator.imod,
    "**=": _guarded_pow,
    "<<=": _guarded_lshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    """Implements ``x op= y`` (RestrictedPython rewrites it to a call)."""
    return _INPLACE_OPS[op](target, value)


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # Used for calls with *args / **kwargs.
    return func(*args, **kwargs)


def _build_builtins() -> dict[str, Any]:
    builtins = dict(safe_builtins)
    # Not needed by ops scripts, and either escape hatches or process killers:
    # class creation, attribute writes, raw addresses, exceptions that bypass
    # ``except Exception`` in the engine.
    for name in (
        "__build_class__",
        "setattr",
        "delattr",
        "id",
        "_getattr_",
        "BaseException",
        "KeyboardInterrupt",
        "SystemExit",
        "GeneratorExit",
    ):
        builtins.pop(name, None)
    builtins.update(
        range=_safe_range,
        pow=_guarded_pow,
        # Iterate in C, bypassing _getiter_: harmless here because _getiter_
        # is not an access-control hook for plain task data.
        len=len,
        min=min,
        max=max,
        sum=sum,
        abs=abs,
        round=round,
        sorted=sorted,
        any=any,
        all=all,
        int=int,
        float=float,
        str=str,
        bool=bool,
        list=list,
        dict=dict,
        set=set,
        frozenset=frozenset,
        tuple=tuple,
        enumerate=enumerate,
        zip=zip,
        isinstance=isinstance,
        reversed=reversed,
        # Safe: every callable they can reach is itself sandboxed or builtin.
        map=map,
        filter=filter,
        # Plain classes; see test_sandbox's reachability check.
        datetime=datetime,
        date=date,
        timedelta=timedelta,
        timezone=timezone,
    )
    return builtins


SAFE_BUILTINS: Mapping[str, Any] = _build_builtins()

# Names RestrictedPython's transformed code calls; set last so task data can
# never shadow them.
_GUARDS: dict[str, Any] = {
    "_getattr_": safer_getattr_raise,
    "_getitem_": _getitem,
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,  # lets scripts mutate dicts and lists only
    "_inplacevar_": _inplacevar,
    "_apply_": _apply,
    "_print_": PrintCollector,  # print() output is discarded
    "_pow_": _guarded_pow,
    "_lshift_": _guarded_lshift,
    "_mul_": _guarded_mul,
}
_TICK = "_tick_"
# Left in the globals by the print collector RestrictedPython injects.
_INJECTED_NAMES = frozenset({"__builtins__", _TICK, "_print", *_GUARDS})


_N = TypeVar("_N", bound=ast.AST)


def _located(new: _N, old: ast.AST) -> _N:
    return ast.copy_location(new, old)


def _name(name: str, node: ast.AST) -> ast.Name:
    return _located(ast.Name(name, ast.Load()), node)


def _tick_call(node: ast.AST) -> ast.Call:
    return _located(ast.Call(func=_name(_TICK, node), args=[], keywords=[]), node)


def _tick_stmt(node: ast.AST) -> ast.Expr:
    return _located(ast.Expr(_tick_call(node)), node)


_GUARDED_BINOPS: dict[type[ast.operator], str] = {ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Mult: "_mul_"}


class _SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus: no imports, no classes, deadline checks
    in every loop / comprehension / function, guarded ``** << *``."""

    def visit_Import(self, node: ast.Import) -> Any:
        self.error(node, "import statements are not allowed (no modules are available in scripts).")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        self.error(node, "import statements are not allowed (no modules are available in scripts).")
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed.")
        return node

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _GUARDED_BINOPS.get(type(node.op))
        if guard is None:
            return node
        return _located(ast.Call(func=_name(guard, node), args=[node.left, node.right], keywords=[]), node)

    def visit_While(self, node: ast.While) -> Any:
        node = cast(ast.While, super().visit_While(node))
        node.body.insert(0, _tick_stmt(node))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = cast(ast.For, super().visit_For(node))
        node.body.insert(0, _tick_stmt(node))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = cast(ast.comprehension, super().visit_comprehension(node))
        node.ifs.insert(0, _tick_call(node.iter))  # _tick_() returns True
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = cast(ast.FunctionDef, super().visit_FunctionDef(node))
        node.body.insert(0, _tick_stmt(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = cast(ast.Lambda, super().visit_Lambda(node))
        body = ast.BoolOp(op=ast.And(), values=[_tick_call(node.body), node.body])
        node.body = _located(body, node.body)
        return node


class _Compiled(NamedTuple):
    code: CodeType | None
    error: str | None
    lineno: int | None


_LINE_RE = re.compile(r"Line (\d+):")


@lru_cache(maxsize=_COMPILE_CACHE_SIZE)
def _compile(source: str, mode: Literal["eval", "exec"]) -> _Compiled:
    # eval() strips surrounding whitespace from a string; compile() does not.
    compile_restricted = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    text = source.strip() if mode == "eval" else source
    try:
        # The *_eval/*_exec variants return errors instead of raising/warning.
        result = compile_restricted(text, filename=_FILENAME, policy=_SandboxPolicy)
    except (ValueError, TypeError) as err:  # e.g. NUL bytes in the source
        return _Compiled(None, str(err), None)
    if result.errors or result.code is None:
        message = "; ".join(result.errors) or "does not compile"
        match = _LINE_RE.search(message)
        return _Compiled(None, message, int(match.group(1)) if match else None)
    return _Compiled(result.code, None, None)


def _compile_or_raise(source: str, mode: Literal["eval", "exec"]) -> CodeType:
    compiled = _compile(source, mode)
    if compiled.code is None:
        kind = "expression" if mode == "eval" else "script"
        location = (_FILENAME, compiled.lineno or 0, 0, None)
        raise ScriptPolicyError(f"Refused {kind}: {compiled.error}", location)
    return compiled.code


def check_expression(source: str) -> str | None:
    """Checks that an expression compiles under the sandbox policy.

    Args:
        source: A Python expression (gateway condition, timer expression...).

    Returns:
        An error message naming the problem, or None if the expression is allowed.
    """
    return _compile(source, "eval").error


def check_script(source: str) -> str | None:
    """Checks that a script compiles under the sandbox policy.

    Args:
        source: Python statements (script task, pre/post script).

    Returns:
        An error message naming the problem, or None if the script is allowed.
    """
    return _compile(source, "exec").error


class _Deadline:
    """Per-run deadline; ``tick`` is injected as ``_tick_``."""

    __slots__ = ("deadline", "expired", "limit")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.deadline = time.monotonic() + limit
        self.expired = False

    def tick(self) -> bool:
        if time.monotonic() > self.deadline:
            # Remembered so a script that catches this still fails.
            self.expired = True
            raise _DeadlineExceeded
        return True

    def timeout_error(self) -> ScriptTimeoutError:
        return ScriptTimeoutError(f"Script exceeded the time limit of {self.limit:g} s and was stopped")


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Script environment with the semantics of SpiffWorkflow's
    ``TaskDataEnvironment``, but compiling and running code in the sandbox.

    ``evaluate`` sees task data as variables; ``execute`` runs in the task
    data dict itself, so assignments stay in task data; injected functions,
    builtins and guards are removed afterwards.
    """

    def __init__(
        self, environment_globals: dict[str, Any] | None = None, *, time_limit: float = DEFAULT_TIME_LIMIT
    ) -> None:
        """Creates the environment.

        Args:
            environment_globals: Extra names given to all code (e.g. helper
                functions). They must not be modules nor start with ``_``.
            time_limit: Seconds a single evaluation or script may run.

        Raises:
            ValueError: If a global is a module or has a reserved name, or the
                time limit is not positive.
        """
        super().__init__(environment_globals)
        if time_limit <= 0:
            raise ValueError("time_limit must be positive")
        for key, value in self.globals.items():
            if isinstance(value, ModuleType):
                raise ValueError(f"Sandbox global {key!r} is a module; modules must not be exposed")
            if key.startswith("_"):
                raise ValueError(f"Sandbox global {key!r} must not start with '_'")
        self.time_limit = time_limit

    def build_globals(self) -> dict[str, Any]:
        """Returns a new dict of the names all code sees besides task data:
        environment globals, ``__builtins__``, the guards and ``_tick_``."""
        return {**self.globals, **self._injected(_Deadline(self.time_limit))}

    def _injected(self, deadline: _Deadline) -> dict[str, Any]:
        return {"__builtins__": SAFE_BUILTINS, **_GUARDS, _TICK: deadline.tick}

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> Any:
        """Evaluates an expression with task data (``context``) as variables.

        ``external_context`` (e.g. data objects) is shadowed by task data.

        Returns:
            The expression's value.

        Raises:
            ScriptPolicyError: The expression is refused by the policy.
            ScriptTimeoutError: The expression ran past the time limit.
        """
        code = _compile_or_raise(expression, "eval")
        deadline = _Deadline(self.time_limit)
        namespace = dict(self.globals)
        namespace.update(external_context or {})
        namespace.update(context)
        namespace.update(self._injected(deadline))
        try:
            result = eval(code, namespace)
        except _DeadlineExceeded:
            raise deadline.timeout_error() from None
        if deadline.expired:
            raise deadline.timeout_error()
        return result

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        """Runs a script in the task data dict ``context``, modifying it in place.

        ``external_context`` (e.g. data objects) is visible to the script.

        Returns:
            True.

        Raises:
            ValueError: Task data overwrites a predefined function.
            ScriptPolicyError: The script is refused by the policy.
            ScriptTimeoutError: The script ran past the time limit.
        """
        external_context = external_context or {}
        self.check_for_overwrite(context, external_context)
        code = _compile_or_raise(script, "exec")
        deadline = _Deadline(self.time_limit)
        context.update(self.globals)
        context.update(external_context)
        context.update(self._injected(deadline))
        try:
            exec(code, context)
        except _DeadlineExceeded:
            raise deadline.timeout_error() from None
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        if deadline.expired:
            raise deadline.timeout_error()
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        """Service tasks are not supported.

        Raises:
            ServiceTaskNotSupportedError: Always.
        """
        raise ServiceTaskNotSupportedError("Service tasks are not supported by the sandboxed script engine")

    def _remove_globals_and_functions_from_context(
        self, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> None:
        # Same rule as TaskDataEnvironment: no callables, globals or injected
        # names are left in task data (they cannot be serialized anyway).
        for key in list(context):
            if (
                key in _INJECTED_NAMES
                or callable(context[key])
                or key in self.globals
                or (external_context and key in external_context)
            ):
                context.pop(key)

    def check_for_overwrite(self, context: Mapping[str, Any], external_context: Mapping[str, Any]) -> None:
        """Fails fast when task data would hide a predefined function.

        Raises:
            ValueError: Naming the clashing variables.
        """
        clashes = set(self.globals).intersection(context)
        clashes.update(set(external_context).intersection(context))
        if clashes:
            raise ValueError(
                "You have task data that overwrites a predefined function(s). Please change the "
                f"following variable or field name(s) to something else: {sorted(clashes)}"
            )


class SandboxedScriptEngine(PythonScriptEngine):
    """``PythonScriptEngine`` running all code in a :class:`RestrictedEnvironment`."""

    def __init__(
        self,
        environment: BasePythonScriptEngineEnvironment | None = None,
        *,
        time_limit: float = DEFAULT_TIME_LIMIT,
    ) -> None:
        """Creates the engine.

        Args:
            environment: Defaults to a new ``RestrictedEnvironment``.
            time_limit: Time limit for the default environment, in seconds.
        """
        super().__init__(environment or RestrictedEnvironment(time_limit=time_limit))

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        """Evaluates an expression for a task (as upstream, with the cause in the message).

        Raises:
            WorkflowTaskException: Wrapping any error, e.g. ScriptPolicyError.
        """
        context = task.data
        instance_attributes = multi_instance_attributes(task, expression)
        if instance_attributes:
            context = {**task.data, **instance_attributes}
        try:
            return self.environment.evaluate(expression, context, external_context)
        except SpiffWorkflowException as se:
            se.add_note(f"Error evaluating expression '{expression}'")
            raise se
        except Exception as err:
            message = f"Error evaluating expression '{expression}': {err.__class__.__name__}: {err}"
            raise WorkflowTaskException(message, task=task, exception=err) from err

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        """Service tasks are not supported (upstream's error path is broken).

        Raises:
            WorkflowTaskException: Always.
        """
        err = ServiceTaskNotSupportedError("Service tasks are not supported by the sandboxed script engine")
        raise WorkflowTaskException(str(err), task=task, exception=err)


def multi_instance_attributes(task: Any, expression: str) -> dict[str, Any]:
    """What a multi-instance activity's completion condition sees besides the instance's data.

    SpiffWorkflow evaluates the condition with the data of the instance that just finished,
    a copy taken when it was created: siblings' outcomes are missing, so "two of three
    approved" could never be written. As BPMN 2.0 defines, the condition also sees the
    activity's instance counts and, under its name, the output collection as it stands.

    Returns:
        Names to overlay on the task data; empty unless `expression` is the completion
        condition of the multi-instance activity `task` belongs to.
    """
    parent = getattr(task, "parent", None)
    spec = getattr(parent, "task_spec", None)
    if parent is None or not isinstance(spec, MultiInstanceTask) or spec.condition != expression:
        return {}
    instances = [c for c in parent.children if c.task_spec.name == spec.task_spec]
    completed = sum(1 for c in instances if c.state == TaskState.COMPLETED)
    finished = sum(1 for c in instances if c.has_state(TaskState.FINISHED_MASK))
    attributes: dict[str, Any] = {
        "numberOfInstances": len(instances),
        "numberOfCompletedInstances": completed,
        "numberOfTerminatedInstances": finished - completed,
        "numberOfActiveInstances": len(instances) - finished,
    }
    output = spec.data_output
    if output is not None and output.exists(parent):
        attributes[output.bpmn_id] = output.get(parent)
    return attributes
