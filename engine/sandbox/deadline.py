"""Compiled-in deadline checks: the policy puts a ``_tick_()`` call in every loop body,
comprehension and function, and each run of code gets a :class:`Deadline` whose ``tick``
is bound to that name.

Checks in the code itself, rather than a signal or a thread, work in any thread of a
worker and stop only the script, never the engine around it.
"""

from __future__ import annotations

import ast
import time
from typing import TypeVar

from .errors import ScriptTimeoutError

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "TICK",
    "Deadline",
    "DeadlineExceeded",
    "load_name",
    "located",
    "tick_call",
    "tick_stmt",
]

DEFAULT_TIME_LIMIT = 1.0
TICK = "_tick_"


class DeadlineExceeded(BaseException):
    """BaseException so that ``except Exception`` in a script cannot swallow it."""


class Deadline:
    """Per-run deadline; ``tick`` is injected as ``_tick_``.

    Args:
        limit: Seconds the run may take, from now.
    """

    __slots__ = ("deadline", "expired", "limit")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.deadline = time.monotonic() + limit
        self.expired = False

    def tick(self) -> bool:
        """Returns True (so it can sit in a comprehension's ``if``) while time is left.

        Raises:
            DeadlineExceeded: The deadline has passed.
        """
        if time.monotonic() > self.deadline:
            # Remembered so a script that catches this still fails.
            self.expired = True
            raise DeadlineExceeded
        return True

    def timeout_error(self) -> ScriptTimeoutError:
        """The error reported to the caller once the deadline has passed."""
        return ScriptTimeoutError(f"Script exceeded the time limit of {self.limit:g} s and was stopped")


_N = TypeVar("_N", bound=ast.AST)


def located(new: _N, old: ast.AST) -> _N:
    """`new`, given the source location of `old`."""
    return ast.copy_location(new, old)


def load_name(name: str, node: ast.AST) -> ast.Name:
    """A read of `name`, located at `node`."""
    return located(ast.Name(name, ast.Load()), node)


def tick_call(node: ast.AST) -> ast.Call:
    """The expression ``_tick_()``, located at `node`."""
    return located(ast.Call(func=load_name(TICK, node), args=[], keywords=[]), node)


def tick_stmt(node: ast.AST) -> ast.Expr:
    """The statement ``_tick_()``, located at `node`."""
    return located(ast.Expr(tick_call(node)), node)
