"""The script environment SpiffWorkflow runs with: the sandbox's semantics, run in an evaluator process.

Code is checked against the policy here first (compiled once per source, as before); it then
runs in an evaluator of an :class:`~.pool.EvaluatorPool` on a copy of the variables it can
name, and what comes back is applied:

* ``evaluate`` sends only the variables the expression's code names (no sandboxed code can
  reach a variable it does not name: ``globals()``, ``vars()`` and frames are out of reach),
  and returns the value;
* ``execute`` sends the whole task data and replaces it with what the script left, which must
  be storable and within ``max_data_bytes``, or nothing changes.

Expressions of the plain kind gateway conditions and timers mostly are (names, literals,
comparisons, ``and``/``or``/``not``, indexing and arithmetic on numbers) are evaluated in the
server's process instead, without a round trip: :mod:`.fastpath` says why that is safe.
"""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import Mapping
from functools import lru_cache
from types import CodeType
from typing import Any

from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .errors import (
    EvaluatorUnavailableError,
    SandboxError,
    ScriptCrashedError,
    ScriptLimitError,
    ScriptMemoryError,
    ScriptOutputError,
    ScriptPolicyError,
    ScriptTimeoutError,
    ServiceTaskNotSupportedError,
    TaskDataTooLargeError,
)
from .fastpath import Evaluator, fast_evaluator
from .limits import DEFAULT_LIMITS, SandboxLimits
from .policy import FILENAME, compile_or_raise
from .pool import EvaluatorPool, shared_pool
from .wire import decode, encode_data

__all__ = ["IsolatedEnvironment", "referenced_names"]

_EMPTY = b"{}"

# The sandbox's own errors, rebuilt by name from an evaluator's answer.
_SANDBOX_ERRORS: dict[str, type[SandboxError]] = {
    cls.__name__: cls
    for cls in (
        SandboxError,
        ScriptLimitError,
        ScriptTimeoutError,
        ScriptMemoryError,
        ScriptCrashedError,
        ScriptOutputError,
        TaskDataTooLargeError,
        EvaluatorUnavailableError,
        ServiceTaskNotSupportedError,
    )
}


@lru_cache(maxsize=4096)
def referenced_names(code: CodeType) -> frozenset[str]:
    """Every global name `code` (and the functions, lambdas and comprehensions in it) can read or write.

    Sandboxed code reaches variables only by name, so these are all the task data it can touch.
    """
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= referenced_names(const)
    return frozenset(n for n in names if not n.startswith("_"))


@lru_cache(maxsize=4096)
def _prepared_expression(expression: str) -> tuple[frozenset[str], Evaluator | None]:
    """The names an expression reads and its in-process evaluator (None: not plain), once per source.

    Raises:
        ScriptPolicyError: The expression is refused (not cached: `compile_source` caches that).
    """
    return referenced_names(compile_or_raise(expression, "eval")), fast_evaluator(expression)


class IsolatedEnvironment(BasePythonScriptEngineEnvironment):
    """Runs expressions and scripts in evaluator processes with SpiffWorkflow's task-data semantics.

    Args:
        limits: The limits code runs under.
        pool: The evaluators to use (default: the process-wide pool for `limits`).
        fast_path: Evaluate plain expressions in this process (see :mod:`.fastpath`).
    """

    def __init__(
        self,
        limits: SandboxLimits = DEFAULT_LIMITS,
        pool: EvaluatorPool | None = None,
        *,
        fast_path: bool = True,
    ) -> None:
        super().__init__({})
        self.limits = limits
        self.pool = pool if pool is not None else shared_pool(limits)
        self.fast_path = fast_path

    @property
    def time_limit(self) -> float:
        """Seconds one evaluation or script may take."""
        return self.limits.time_limit

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> Any:
        """Evaluates an expression with task data (``context``) as variables.

        ``external_context`` (e.g. data objects) is shadowed by task data.

        Raises:
            ScriptPolicyError: The expression is refused by the policy.
            ScriptLimitError: It ran past a limit (time, memory, size of its value).
            Exception: What the expression raised (rebuilt: same type and message).
        """
        names, plain = _prepared_expression(expression)
        external = external_context or {}
        variables = {n: external[n] for n in names if n in external}
        variables.update((n, context[n]) for n in names if n in context)
        if self.fast_path and plain is not None:
            try:
                return plain(variables)
            except Exception:  # NotPlain, or an error: the evaluator gives the real answer
                pass
        payload = encode_data(variables, self.limits.max_data_bytes, "the variables the expression reads")
        reply = self._run("eval", expression, payload, _EMPTY)
        return decode(reply[1])

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        """Runs a script on the task data dict ``context``, which is replaced by what the script leaves.

        ``external_context`` (e.g. data objects) is visible to the script, never left in task data.

        Returns:
            True.

        Raises:
            ValueError: Task data overwrites a predefined name.
            ScriptPolicyError: The script is refused by the policy.
            ScriptLimitError: It ran past a limit, or left task data that cannot be stored or
                is too big; `context` is then unchanged.
            Exception: What the script raised (rebuilt); `context` is unchanged.
        """
        external = external_context or {}
        self.check_for_overwrite(context, external)
        code = compile_or_raise(script, "exec")
        names = referenced_names(code)
        max_bytes = self.limits.max_data_bytes
        payload = encode_data(context, max_bytes, "the task data the script receives")
        shared = {n: external[n] for n in names if n in external}
        extra = encode_data(shared, max_bytes, "the data objects the script reads") if shared else _EMPTY
        reply = self._run("exec", script, payload, extra)
        result = decode(reply[1])
        if not isinstance(result, dict):
            raise ScriptCrashedError("the script evaluator gave an invalid answer")
        context.clear()
        context.update(result)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        """Service tasks are not supported.

        Raises:
            ServiceTaskNotSupportedError: Always.
        """
        raise ServiceTaskNotSupportedError("Service tasks are not supported by the sandboxed script engine")

    def check_for_overwrite(self, context: Mapping[str, Any], external_context: Mapping[str, Any]) -> None:
        """Fails fast when task data would hide a data object.

        Raises:
            ValueError: Naming the clashing variables.
        """
        clashes = set(external_context).intersection(context)
        if clashes:
            raise ValueError(
                "You have task data that overwrites a predefined function(s). Please change the "
                f"following variable or field name(s) to something else: {sorted(clashes)}"
            )

    def _run(self, op: str, source: str, payload: bytes, extra: bytes) -> list[bytes]:
        header = json.dumps(
            {"op": op, "source": source, "limit": self.limits.time_limit, "max": self.limits.max_data_bytes},
            separators=(",", ":"),
        ).encode()
        reply = self.pool.run(
            [header, payload, extra], time_limit=self.limits.time_limit, max_bytes=self.limits.max_data_bytes
        )
        answer = json.loads(reply[0])
        if not answer.get("ok"):
            raise _rebuild(answer, source)
        if len(reply) != 2:
            raise ScriptCrashedError("the script evaluator gave an invalid answer")
        return reply


def _rebuild(answer: Mapping[str, Any], source: str) -> Exception:
    """The exception an evaluator reported, as the same type with the same message.

    The line it happened on (in the script) is kept as ``sandbox_line`` for error reports.
    """
    kind = str(answer.get("type", "Exception"))
    message = str(answer.get("message", ""))
    line = answer.get("line")
    err: Exception
    if kind == "ScriptPolicyError":
        err = ScriptPolicyError(message, (FILENAME, line or 0, 0, None))
    elif kind in _SANDBOX_ERRORS:
        err = _SANDBOX_ERRORS[kind](message)
    else:
        cls = getattr(builtins, kind, None)
        err = RuntimeError(f"{kind}: {message}")
        if isinstance(cls, type) and issubclass(cls, Exception):
            with contextlib.suppress(TypeError):  # a type with a constructor of its own
                err = cls(message)
    err.sandbox_line = line if isinstance(line, int) else None  # type: ignore[attr-defined]
    return err
