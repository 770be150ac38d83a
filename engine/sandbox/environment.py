"""The script environment: SpiffWorkflow's task-data semantics, running code in the sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .deadline import DEFAULT_TIME_LIMIT, TICK, Deadline, DeadlineExceeded
from .errors import ServiceTaskNotSupportedError
from .guards import GUARDS, SAFE_BUILTINS
from .policy import compile_or_raise

__all__ = ["RestrictedEnvironment"]

# Left in the globals by the print collector RestrictedPython injects.
_INJECTED_NAMES = frozenset({"__builtins__", TICK, "_print", *GUARDS})


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
        return {**self.globals, **self._injected(Deadline(self.time_limit))}

    def _injected(self, deadline: Deadline) -> dict[str, Any]:
        return {"__builtins__": SAFE_BUILTINS, **GUARDS, TICK: deadline.tick}

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
        code = compile_or_raise(expression, "eval")
        deadline = Deadline(self.time_limit)
        namespace = dict(self.globals)
        namespace.update(external_context or {})
        namespace.update(context)
        namespace.update(self._injected(deadline))
        try:
            result = eval(code, namespace)
        except DeadlineExceeded:
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
        code = compile_or_raise(script, "exec")
        deadline = Deadline(self.time_limit)
        context.update(self.globals)
        context.update(external_context)
        context.update(self._injected(deadline))
        try:
            exec(code, context)
        except DeadlineExceeded:
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
