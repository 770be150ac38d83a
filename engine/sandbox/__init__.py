"""Sandboxed script engine for SpiffWorkflow.

Script tasks, pre/post scripts, gateway conditions and timer expressions are
code typed by people who are not the server's operators, so they run under a
RestrictedPython policy:

* code is compiled with :func:`RestrictedPython.compile_restricted` (plus a few
  extra rules, see :mod:`.policy`), so names and attributes starting with ``_``
  are refused and every attribute access goes through ``safer_getattr``;
* the only builtins are a whitelist of harmless functions and types; no module
  is reachable from the namespace (:mod:`.guards`);
* ``import``, ``class`` and ``eval``/``exec`` are compile-time errors;
* ``**``, ``<<`` and ``*`` go through guards that refuse results too big to
  compute quickly (a single huge C-level operation cannot be interrupted);
* every loop iteration, comprehension step and function call runs a deadline
  check, so runaway code stops with :class:`ScriptTimeoutError` (:mod:`.deadline`);
* the code runs in a warm evaluator process (:mod:`.worker`, :mod:`.pool`) under OS limits on
  memory and CPU, killed when it overruns the wall-clock limit: no builtin call can take more
  time or memory than :class:`SandboxLimits` allow, and the server's other requests never
  wait for it. Only storable task data crosses back (:mod:`.wire`), within a size bound.

:mod:`.environment` runs code on task data in the current process (what each evaluator
does); :mod:`.isolated` is the environment the engine uses, handing code to evaluators and
keeping plain expressions in-process (:mod:`.fastpath`); :mod:`.script_engine` is what
SpiffWorkflow is handed.
"""

from __future__ import annotations

from .deadline import DEFAULT_TIME_LIMIT
from .environment import RestrictedEnvironment
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
from .guards import MAX_INT_BITS, MAX_RANGE, MAX_SEQUENCE_LENGTH, SAFE_BUILTINS
from .isolated import IsolatedEnvironment
from .limits import DEFAULT_LIMITS, SandboxLimits
from .policy import check_expression, check_script
from .pool import EvaluatorPool, shared_pool
from .script_engine import SandboxedScriptEngine, multi_instance_attributes, sandbox_failure

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIME_LIMIT",
    "MAX_INT_BITS",
    "MAX_RANGE",
    "MAX_SEQUENCE_LENGTH",
    "SAFE_BUILTINS",
    "EvaluatorPool",
    "EvaluatorUnavailableError",
    "IsolatedEnvironment",
    "RestrictedEnvironment",
    "SandboxError",
    "SandboxLimits",
    "SandboxedScriptEngine",
    "ScriptCrashedError",
    "ScriptLimitError",
    "ScriptMemoryError",
    "ScriptOutputError",
    "ScriptPolicyError",
    "ScriptTimeoutError",
    "ServiceTaskNotSupportedError",
    "TaskDataTooLargeError",
    "check_expression",
    "check_script",
    "multi_instance_attributes",
    "sandbox_failure",
    "shared_pool",
]
