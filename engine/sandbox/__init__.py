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
  check, so runaway code stops with :class:`ScriptTimeoutError` (:mod:`.deadline`).

:mod:`.environment` runs the code on task data; :mod:`.script_engine` is what
SpiffWorkflow is handed.

Limitations: memory is not bounded (``s = s + s`` in a loop, ``'%*d' % (10**9, 1)``);
run workers under an OS memory limit for hard isolation.
"""

from __future__ import annotations

from .deadline import DEFAULT_TIME_LIMIT
from .environment import RestrictedEnvironment
from .errors import SandboxError, ScriptPolicyError, ScriptTimeoutError, ServiceTaskNotSupportedError
from .guards import MAX_INT_BITS, MAX_RANGE, MAX_SEQUENCE_LENGTH, SAFE_BUILTINS
from .policy import check_expression, check_script
from .script_engine import SandboxedScriptEngine, multi_instance_attributes

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
    "multi_instance_attributes",
]
