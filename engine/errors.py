"""Exceptions raised by the engine; the web layer maps them to HTTP statuses."""

from __future__ import annotations

from dataclasses import dataclass


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class NotFoundError(EngineError):
    """A definition, instance or task does not exist."""


class ConflictError(EngineError):
    """The instance changed under the caller (stale revision, concurrent completion)."""


class InstanceEndedError(ConflictError):
    """The instance has ended: its runtime is gone, only its head, projections and events remain."""

    def __init__(self, instance_id: int, status: str) -> None:
        self.instance_id = instance_id
        self.status = status
        super().__init__(f"instance {instance_id} has ended ({status}): only its history is kept")


class TaskNotReadyError(ConflictError):
    """The task is not waiting for input any more (completed, cancelled, or not yet reached)."""


@dataclass(frozen=True)
class FieldError:
    """One failing field of a submitted form."""

    path: str
    message: str


class FormValidationError(EngineError):
    """Submitted data does not satisfy the task's form schema (or start options their schema).

    `root` names the part of the request the field paths are in (``data``, ``options``).
    """

    def __init__(self, form: str, errors: list[FieldError], *, root: str = "data") -> None:
        self.form = form
        self.errors = errors
        self.root = root
        detail = "; ".join(f"{e.path or '(form)'}: {e.message}" for e in errors[:5])
        super().__init__(f"form {form} is invalid: {detail}")


class PayloadTooLargeError(EngineError):
    """Input is larger than Baton stores (form data, options, task data a step leaves); nothing
    was written."""


@dataclass(frozen=True)
class LintIssue:
    """A problem found in a definition, tied to the BPMN element it concerns.

    `element_name` is the element's name on one line (filled in by the registry), `hint` what
    to do about it.
    """

    element_id: str | None
    message: str
    code: str = "lint"
    hint: str = ""
    element_name: str = ""

    def __str__(self) -> str:
        where = f"[{self.element_id}] " if self.element_id else ""
        fix = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{fix}"


class DefinitionError(EngineError):
    """A definition was refused; nothing was stored."""

    def __init__(self, issues: list[LintIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues) or "invalid definition")


class WorkflowExecutionError(EngineError):
    """The workflow failed while running (script error, no gateway branch matched...).

    The step is rolled back; the instance stays as it was before the step.
    """

    def __init__(self, message: str, element_id: str | None = None) -> None:
        self.element_id = element_id
        super().__init__(f"[{element_id}] {message}" if element_id else message)


class WorkflowLimitError(WorkflowExecutionError):
    """The instance outgrew what the engine can run safely (e.g. endless rework loops)."""


class ScriptLimitExceededError(WorkflowLimitError):
    """A script, condition or expression went past a hard limit of the sandbox (time, memory,
    size or kind of the data it leaves); the step is rolled back."""


class ScriptsUnavailableError(EngineError):
    """No script evaluator could take the step's code (all busy, or none could start): try again."""

    def __init__(self, message: str, element_id: str | None = None) -> None:
        self.element_id = element_id
        super().__init__(message)
