"""The script engine handed to SpiffWorkflow, and what a multi-instance activity's
completion condition sees."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from .deadline import DEFAULT_TIME_LIMIT
from .errors import SandboxError, ServiceTaskNotSupportedError
from .isolated import IsolatedEnvironment
from .limits import SandboxLimits

__all__ = ["SandboxedScriptEngine", "multi_instance_attributes", "sandbox_failure"]


class SandboxedScriptEngine(PythonScriptEngine):
    """``PythonScriptEngine`` running all code in the sandbox, by default in evaluator processes
    under hard limits (an :class:`IsolatedEnvironment`)."""

    def __init__(
        self,
        environment: BasePythonScriptEngineEnvironment | None = None,
        *,
        time_limit: float = DEFAULT_TIME_LIMIT,
        limits: SandboxLimits | None = None,
    ) -> None:
        """Creates the engine.

        Args:
            environment: Defaults to a new ``IsolatedEnvironment`` on the shared evaluator pool.
            time_limit: Time limit for the default environment, in seconds.
            limits: All limits of the default environment (`time_limit` is then ignored).
        """
        if environment is None:
            environment = IsolatedEnvironment(limits or SandboxLimits(time_limit=time_limit))
        super().__init__(environment)

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
            if isinstance(err, SandboxError):
                err.sandbox_expression = expression  # type: ignore[attr-defined]
            message = f"Error evaluating expression '{expression}': {err.__class__.__name__}: {err}"
            raise WorkflowTaskException(message, task=task, exception=err) from err

    def warm_up(self) -> None:
        """Starts an evaluator process in the background, so the first script does not wait for one."""
        pool = getattr(self.environment, "pool", None)
        if pool is not None:
            pool.warm_up(wait=False)

    def get_error_line_number_and_content(self, script: str, err: Exception) -> tuple[int, str]:
        """The script line an error happened on: reported by the evaluator, else found as upstream."""
        line = getattr(err, "sandbox_line", None)
        if not isinstance(line, int) or line <= 0:
            return super().get_error_line_number_and_content(script, err)  # type: ignore[no-any-return]
        lines = script.splitlines()
        return line, lines[line - 1] if line <= len(lines) else ""

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        """Service tasks are not supported (upstream's error path is broken).

        Raises:
            WorkflowTaskException: Always.
        """
        err = ServiceTaskNotSupportedError("Service tasks are not supported by the sandboxed script engine")
        raise WorkflowTaskException(str(err), task=task, exception=err)


def sandbox_failure(exc: BaseException) -> SandboxError | None:
    """The sandbox's own error behind a SpiffWorkflow exception (its cause or context), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SandboxError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


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
