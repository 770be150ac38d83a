"""The compile-time policy: RestrictedPython's rules plus no imports, no classes, guarded
``** << *`` and deadline checks; compiled code is cached by source.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from types import CodeType
from typing import Any, Literal, NamedTuple, cast

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer

from .deadline import load_name, located, tick_call, tick_stmt
from .errors import ScriptPolicyError

__all__ = ["Compiled", "check_expression", "check_script", "compile_or_raise", "compile_source"]

# Upstream's line-number lookup searches the traceback for this file name.
FILENAME = "<string>"
_COMPILE_CACHE_SIZE = 2048

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
        return located(ast.Call(func=load_name(guard, node), args=[node.left, node.right], keywords=[]), node)

    def visit_While(self, node: ast.While) -> Any:
        node = cast(ast.While, super().visit_While(node))
        node.body.insert(0, tick_stmt(node))
        return node

    def visit_For(self, node: ast.For) -> Any:
        node = cast(ast.For, super().visit_For(node))
        node.body.insert(0, tick_stmt(node))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        node = cast(ast.comprehension, super().visit_comprehension(node))
        node.ifs.insert(0, tick_call(node.iter))  # _tick_() returns True
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = cast(ast.FunctionDef, super().visit_FunctionDef(node))
        node.body.insert(0, tick_stmt(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = cast(ast.Lambda, super().visit_Lambda(node))
        body = ast.BoolOp(op=ast.And(), values=[tick_call(node.body), node.body])
        node.body = located(body, node.body)
        return node


class Compiled(NamedTuple):
    """The outcome of compiling one source: the code, or why it was refused."""

    code: CodeType | None
    error: str | None
    lineno: int | None


_LINE_RE = re.compile(r"Line (\d+):")


@lru_cache(maxsize=_COMPILE_CACHE_SIZE)
def compile_source(source: str, mode: Literal["eval", "exec"]) -> Compiled:
    """Compiles `source` under the policy, once per distinct source (an LRU cache).

    Args:
        source: An expression (``"eval"``) or statements (``"exec"``).
        mode: Which of the two `source` is.

    Returns:
        The code, or the error message and the line it names.
    """
    # eval() strips surrounding whitespace from a string; compile() does not.
    compile_restricted = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    text = source.strip() if mode == "eval" else source
    try:
        # The *_eval/*_exec variants return errors instead of raising/warning.
        result = compile_restricted(text, filename=FILENAME, policy=_SandboxPolicy)
    except (ValueError, TypeError) as err:  # e.g. NUL bytes in the source
        return Compiled(None, str(err), None)
    if result.errors or result.code is None:
        message = "; ".join(result.errors) or "does not compile"
        match = _LINE_RE.search(message)
        return Compiled(None, message, int(match.group(1)) if match else None)
    return Compiled(result.code, None, None)


def compile_or_raise(source: str, mode: Literal["eval", "exec"]) -> CodeType:
    """The compiled code of `source`.

    Raises:
        ScriptPolicyError: The source is refused, with the line it names.
    """
    compiled = compile_source(source, mode)
    if compiled.code is None:
        kind = "expression" if mode == "eval" else "script"
        location = (FILENAME, compiled.lineno or 0, 0, None)
        raise ScriptPolicyError(f"Refused {kind}: {compiled.error}", location)
    return compiled.code


def check_expression(source: str) -> str | None:
    """Checks that an expression compiles under the sandbox policy.

    Args:
        source: A Python expression (gateway condition, timer expression...).

    Returns:
        An error message naming the problem, or None if the expression is allowed.
    """
    return compile_source(source, "eval").error


def check_script(source: str) -> str | None:
    """Checks that a script compiles under the sandbox policy.

    Args:
        source: Python statements (script task, pre/post script).

    Returns:
        An error message naming the problem, or None if the script is allowed.
    """
    return compile_source(source, "exec").error
