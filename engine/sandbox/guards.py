"""What sandboxed code may call: whitelisted builtins and the guards RestrictedPython's
transformed code calls, with ``range``, ``**``, ``<<`` and ``*`` capped.

A single huge C-level operation (``10 ** 10 ** 9``) cannot be interrupted by the deadline
checks, so the guards refuse results too big to compute quickly before computing them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from RestrictedPython import PrintCollector, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr_raise,
)

__all__ = ["GUARDS", "MAX_INT_BITS", "MAX_RANGE", "MAX_SEQUENCE_LENGTH", "SAFE_BUILTINS"]

MAX_RANGE = 100_000
MAX_SEQUENCE_LENGTH = 1_000_000
MAX_INT_BITS = 100_000


def _safe_range(*args: int) -> range:
    """``range`` capped at MAX_RANGE elements."""
    r = range(*args)
    try:
        size = len(r)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise ValueError(f"range() of {size} elements is above the sandbox limit of {MAX_RANGE}")
    return r


def _check_int_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise ValueError(f"{what} would produce an integer above the sandbox limit of {MAX_INT_BITS} bits")


def guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    """``pow``/``**`` refusing integer results too big to compute quickly."""
    if mod is None and isinstance(base, int) and isinstance(exp, int) and exp > 0 and abs(base) > 1:
        _check_int_bits(base.bit_length() * exp, "**")
    return pow(base, exp, mod)


def guarded_lshift(a: Any, b: Any) -> Any:
    """``<<`` refusing integer results too big to compute quickly."""
    if isinstance(a, int) and isinstance(b, int) and a:
        _check_int_bits(a.bit_length() + b, "<<")
    return a << b


_SEQUENCES = (str, bytes, list, tuple)


def _check_repeat(length: int, times: int) -> None:
    if length * times > MAX_SEQUENCE_LENGTH:
        raise ValueError(f"sequence repetition above the sandbox limit of {MAX_SEQUENCE_LENGTH} items")


def guarded_mul(a: Any, b: Any) -> Any:
    """``*`` refusing huge sequence repetition and huge integer products."""
    if isinstance(a, int) and isinstance(b, int):
        _check_int_bits(a.bit_length() + b.bit_length(), "*")
    elif isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_repeat(len(a), b)
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_repeat(len(b), a)
    return a * b


_INPLACE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": guarded_mul,
    "/=": operator.itruediv,
    "%=": operator.imod,
    "**=": guarded_pow,
    "<<=": guarded_lshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "//=": operator.ifloordiv,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    """Implements ``x op= y`` (RestrictedPython rewrites it to a call)."""
    return _INPLACE_OPS[op](target, value)


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # Used for calls with *args / **kwargs.
    return func(*args, **kwargs)


def _build_builtins() -> dict[str, Any]:
    builtins = dict(safe_builtins)
    # Not needed by ops scripts, and either escape hatches or process killers:
    # class creation, attribute writes, raw addresses, exceptions that bypass
    # ``except Exception`` in the engine.
    for name in (
        "__build_class__",
        "setattr",
        "delattr",
        "id",
        "_getattr_",
        "BaseException",
        "KeyboardInterrupt",
        "SystemExit",
        "GeneratorExit",
    ):
        builtins.pop(name, None)
    builtins.update(
        range=_safe_range,
        pow=guarded_pow,
        # Iterate in C, bypassing _getiter_: harmless here because _getiter_
        # is not an access-control hook for plain task data.
        len=len,
        min=min,
        max=max,
        sum=sum,
        abs=abs,
        round=round,
        sorted=sorted,
        any=any,
        all=all,
        int=int,
        float=float,
        str=str,
        bool=bool,
        list=list,
        dict=dict,
        set=set,
        frozenset=frozenset,
        tuple=tuple,
        enumerate=enumerate,
        zip=zip,
        isinstance=isinstance,
        reversed=reversed,
        # Safe: every callable they can reach is itself sandboxed or builtin.
        map=map,
        filter=filter,
        # Plain classes; see test_sandbox's reachability check.
        datetime=datetime,
        date=date,
        timedelta=timedelta,
        timezone=timezone,
    )
    return builtins


SAFE_BUILTINS: Mapping[str, Any] = _build_builtins()

# Names RestrictedPython's transformed code calls (``_pow_`` and the like are ours, see
# engine.sandbox.policy); the environment sets them last so task data can never shadow them.
GUARDS: Mapping[str, Any] = {
    "_getattr_": safer_getattr_raise,
    "_getitem_": _getitem,
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,  # lets scripts mutate dicts and lists only
    "_inplacevar_": _inplacevar,
    "_apply_": _apply,
    "_print_": PrintCollector,  # print() output is discarded
    "_pow_": guarded_pow,
    "_lshift_": guarded_lshift,
    "_mul_": guarded_mul,
}
