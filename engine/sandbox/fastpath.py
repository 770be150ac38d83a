"""Plain expressions, evaluated in the server's process without a round trip to an evaluator.

Most gateway conditions and timer expressions are plain: ``qc_decision == 'pass'``,
``cost_to_date > budget * budget_alert_ratio``, ``"P7D"``. An expression is plain when its
syntax tree holds only

* literals (``str``, ``int``, ``float``, ``bool``, ``None``) and names,
* comparisons (``== != < <= > >= in not in is is not``), ``and``/``or``/``not``, ``x if c else y``,
* ``+ - * /`` and unary ``- +``, on numbers only (checked at run time, integers of at most
  4,096 bits: results stay small),
* indexing by such an expression (no slices),
* tuple, list and set displays of such expressions.

Why this is safe to run in-process, with no time or memory guard: there are no calls, no
attribute access, no loops, comprehensions, formatting (``%``, f-strings), ``**`` or ``<<``.
Each node is evaluated once, so the work is one operation per node, and each operation is a
comparison, a containment test, an index or arithmetic on small numbers: linear at worst in
the size of task data already in memory (which the server decoded anyway), never more. The
values made are booleans, small numbers, references to existing values, or displays no longer
than the source. A name must hold a plain value (JSON types, ``datetime``, ``date``,
``timedelta``, ``UUID``); anything else, a missing name or any error hands the expression to an
evaluator process, which gives the authoritative result or error.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

__all__ = ["MAX_INT_BITS", "Evaluator", "NotPlain", "fast_evaluator"]

MAX_INT_BITS = 4096

_PLAIN_VALUES = (str, int, float, bool, type(None), list, dict, tuple, datetime, date, timedelta, UUID)
_LITERALS = (str, int, float, bool, type(None))

Evaluator = Callable[[dict[str, Any]], Any]


class NotPlain(Exception):
    """The values met are not plain enough for the in-process evaluation."""


def _contains(a: Any, b: Any) -> bool:
    return a in b


def _not_contains(a: Any, b: Any) -> bool:
    return a not in b


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: _contains,
    ast.NotIn: _not_contains,
}

_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _number(value: Any) -> Any:
    if type(value) is float or type(value) is bool:
        return value
    if type(value) is int and value.bit_length() <= MAX_INT_BITS:
        return value
    raise NotPlain


def _plain(value: Any) -> Any:
    if isinstance(value, _PLAIN_VALUES):
        return value
    raise NotPlain


class _Unsupported(Exception):
    pass


def _build(node: ast.AST) -> Evaluator:
    if isinstance(node, ast.Constant):
        if type(node.value) not in _LITERALS:
            raise _Unsupported
        constant = node.value
        return lambda ns: constant
    if isinstance(node, ast.Name):
        name = node.id

        def load(ns: dict[str, Any]) -> Any:
            try:
                return _plain(ns[name])
            except KeyError:
                raise NotPlain from None

        return load
    if isinstance(node, ast.Compare):
        return _compare(node)
    if isinstance(node, ast.BoolOp):
        return _bool_op(node)
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda ns: not operand(ns)
        if isinstance(node.op, ast.USub):
            return lambda ns: -_number(operand(ns))
        if isinstance(node.op, ast.UAdd):
            return lambda ns: +_number(operand(ns))
        raise _Unsupported
    if isinstance(node, ast.BinOp):
        arithmetic = _ARITHMETIC.get(type(node.op))
        if arithmetic is None:
            raise _Unsupported
        left, right = _build(node.left), _build(node.right)
        return lambda ns: arithmetic(_number(left(ns)), _number(right(ns)))
    if isinstance(node, ast.IfExp):
        test, body, orelse = _build(node.test), _build(node.body), _build(node.orelse)
        return lambda ns: body(ns) if test(ns) else orelse(ns)
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            raise _Unsupported
        container, key = _build(node.value), _build(node.slice)
        return lambda ns: _plain(container(ns)[key(ns)])
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise _Unsupported
        items = [_build(e) for e in node.elts]
        kind = {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)]
        return lambda ns: kind(item(ns) for item in items)
    raise _Unsupported


def _compare(node: ast.Compare) -> Evaluator:
    first = _build(node.left)
    steps = [(_COMPARE[type(op)], _build(c)) for op, c in zip(node.ops, node.comparators, strict=True)]

    def compare(ns: dict[str, Any]) -> Any:
        left = first(ns)
        result: Any = True
        for op, comparator in steps:  # as Python does: the first false result, or the last
            right = comparator(ns)
            result = op(left, right)
            if not result:
                return result
            left = right
        return result

    return compare


def _bool_op(node: ast.BoolOp) -> Evaluator:
    values = [_build(v) for v in node.values]
    is_and = isinstance(node.op, ast.And)

    def bool_op(ns: dict[str, Any]) -> Any:
        result: Any = None
        for value in values:
            result = value(ns)
            if bool(result) is not is_and:  # and: stop at a false value; or: at a true one
                return result
        return result

    return bool_op


@lru_cache(maxsize=4096)
def fast_evaluator(expression: str) -> Evaluator | None:
    """The in-process evaluator of a plain expression, or None if it is not plain.

    The evaluator takes the variables by name and returns the value; it raises `NotPlain`
    (or any error) when the evaluator process must decide instead.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        return _build(tree.body)
    except (_Unsupported, SyntaxError, ValueError, RecursionError):
        return None
