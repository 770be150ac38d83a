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


class ScriptTimeoutError(SandboxError):
    """The code ran longer than the configured time limit."""


class ServiceTaskNotSupportedError(SandboxError):
    """Service tasks cannot be run by the sandboxed engine."""
