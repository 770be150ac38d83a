"""The errors the sandbox raises itself (a script's own exceptions pass through as they are)."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class for errors raised by the sandbox itself."""


class ScriptPolicyError(SandboxError, SyntaxError):
    """The source does not compile, or uses something the policy forbids.

    A ``SyntaxError`` subclass so SpiffWorkflow reports its line number.
    """

    def __str__(self) -> str:
        return str(self.msg)


class ScriptLimitError(SandboxError):
    """The code hit one of the sandbox's hard limits (time, memory, what it may leave behind)."""


class ScriptTimeoutError(ScriptLimitError):
    """The code ran longer than the configured time limit."""


class ScriptMemoryError(ScriptLimitError):
    """The code tried to use more memory than its evaluator process may have."""


class ScriptCrashedError(ScriptLimitError):
    """The evaluator process died while running the code (killed by the system, e.g. for memory)."""


class ScriptOutputError(ScriptLimitError):
    """The code left something in task data (or returned a value) that cannot be stored."""


class TaskDataTooLargeError(ScriptOutputError):
    """The task data a script leaves (or a value it returns) is above the size limit."""


class EvaluatorUnavailableError(SandboxError):
    """No evaluator process could take the code (none could be started, or all stayed busy)."""


class ServiceTaskNotSupportedError(SandboxError):
    """Service tasks cannot be run by the sandboxed engine."""
