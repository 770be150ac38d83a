"""What crosses the pipe between the server and an evaluator process: task data as JSON.

Only what the instance store can keep may cross: ``None``, booleans, numbers, strings, lists,
tuples (they arrive as lists, as after a reload from the store), dicts (non-string keys become
strings, as ``json`` does) and the types SpiffWorkflow's serializer registry stores
(``datetime``, ``timedelta``, ``UUID``). Anything else a script leaves in task data (``range``,
``bytes``, ``set``, ``date``...) is refused here, naming the variable, instead of failing later
when the step is saved. An expression's value is held to the same rule: SpiffWorkflow keeps
some (a timer's date) in the task's internal data, which is stored too.

Decoding never runs code: it is ``json.loads`` with a hook that rebuilds the few tagged types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from .errors import ScriptOutputError, TaskDataTooLargeError

__all__ = ["TAG", "decode", "encode_data", "encode_value", "human_size"]

TAG = "__baton_wire__"

_STORABLE = "None, booleans, numbers, strings, lists, dicts, datetime and timedelta"


def human_size(size: int) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class _Unstorable(TypeError):
    def __init__(self, value: Any) -> None:
        super().__init__(type(value).__name__)
        self.type_name = type(value).__name__


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {TAG: ["datetime", value.isoformat()]}
    if isinstance(value, timedelta):
        return {TAG: ["timedelta", value.days, value.seconds, value.microseconds]}
    if isinstance(value, UUID):
        return {TAG: ["uuid", str(value)]}
    raise _Unstorable(value)


def _dumps(obj: Any, *, allow_nan: bool = False) -> str:
    # NaN and infinities are refused in task data: PostgreSQL's JSON types reject them.
    return json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan)


def _explain(err: BaseException, where: str) -> ScriptOutputError:
    if isinstance(err, _Unstorable):
        return ScriptOutputError(
            f"{where} holds a value of type '{err.type_name}', which task data cannot hold "
            f"(only {_STORABLE}); convert it first, e.g. with list() or str()"
        )
    if isinstance(err, RecursionError):
        return ScriptOutputError(f"{where} is nested too deeply to be stored")
    if isinstance(err, ValueError) and "digits" in str(err):
        return ScriptOutputError(f"{where} holds an integer too large to be stored ({err})")
    if isinstance(err, ValueError) and "Out of range float" in str(err):
        return ScriptOutputError(f"{where} holds a float that is not a number (NaN or infinity)")
    if isinstance(err, ValueError) and "Circular reference" in str(err):
        return ScriptOutputError(f"{where} contains itself (a circular reference) and cannot be stored")
    return ScriptOutputError(f"{where} cannot be stored: {err}")


_ENCODE_ERRORS = (_Unstorable, RecursionError, ValueError, TypeError, OverflowError)


def _surely_above(value: Any, max_bytes: int) -> bool:
    """Whether `value`'s JSON is surely longer than `max_bytes`, found without building it."""
    return _lower_bound(value, max_bytes) > max_bytes


def _lower_bound(value: Any, cap: int) -> int:
    """A lower bound of the length of `value`'s JSON, counted until it passes `cap`.

    Stops as soon as the bound passes the cap, so 300 references to one 1 MiB string cost
    two steps, not 300 MiB of JSON.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 1 + 2 * len(item)
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, list | tuple):
            total += 1 + len(item)
            stack.extend(item)
        else:
            total += 1
        if total > cap:
            return total
    return total


def _has_cycle(value: Any) -> bool:
    """Whether a list or dict in `value` contains itself (each container is visited once)."""
    done: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, leaving = stack.pop()
        if not isinstance(item, list | tuple | dict):
            continue
        key = id(item)
        if leaving:
            on_path.discard(key)
            done.add(key)
            continue
        if key in on_path:
            return True
        if key in done:
            continue
        on_path.add(key)
        stack.append((item, True))
        stack.extend((child, False) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _too_large(size: str, max_bytes: int, what: str, data: Any) -> ScriptOutputError:
    if _has_cycle(data):
        return ScriptOutputError(f"{what} contains itself (a circular reference) and cannot be stored")
    largest = _largest(data, max_bytes) if isinstance(data, Mapping) else ""
    limit = human_size(max_bytes)
    return TaskDataTooLargeError(f"{what} would take {size}, above the limit of {limit}{largest}")


def encode_data(data: Mapping[str, Any], max_bytes: int, what: str = "task data") -> bytes:
    """Task data (a dict of variables) as UTF-8 JSON, refused if it cannot be stored or is too big.

    Args:
        data: The variables.
        max_bytes: The largest encoding allowed.
        what: How the error messages name `data`.

    Raises:
        ScriptOutputError: A variable holds something task data cannot hold; names it.
        TaskDataTooLargeError: The encoding is larger than `max_bytes`.
    """
    if _surely_above(data, max_bytes):
        raise _too_large(f"more than {human_size(max_bytes)}", max_bytes, what, data)
    try:
        text = _dumps(data)
    except _ENCODE_ERRORS as err:
        raise _locate(data, err, what) from None
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > max_bytes:
        raise _too_large(human_size(len(encoded)), max_bytes, what, data)
    return encoded


def encode_value(value: Any, max_bytes: int) -> bytes:
    """An expression's value as UTF-8 JSON (NaN allowed: a condition may compare with it).

    Raises:
        ScriptOutputError: The value cannot be passed on.
        TaskDataTooLargeError: It is larger than `max_bytes`.
    """
    what = "the expression's value"
    if _surely_above(value, max_bytes):
        raise _too_large(f"more than {human_size(max_bytes)}", max_bytes, what, None)
    try:
        text = _dumps(value, allow_nan=True)
    except _ENCODE_ERRORS as err:
        raise _explain(err, what) from None
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > max_bytes:
        raise _too_large(human_size(len(encoded)), max_bytes, what, None)
    return encoded


def _locate(data: Mapping[str, Any], err: BaseException, what: str) -> ScriptOutputError:
    """The error, naming the first variable that fails on its own."""
    if not isinstance(data, Mapping):
        return _explain(err, what)
    for key, value in data.items():
        try:
            _dumps(value)
        except _ENCODE_ERRORS as inner:
            return _explain(inner, f"the variable '{key}'")
    return _explain(err, what)


def _largest(data: Mapping[str, Any], cap: int) -> str:
    """Which variable is too big on its own, or the biggest one, for the message."""
    sizes = [(_lower_bound(value, cap), str(key)) for key, value in data.items()]
    if not sizes:
        return ""
    size, key = max(sizes)
    about = f"more than {human_size(cap)}" if size > cap else f"at least {human_size(size)}"
    return f"; the largest variable is '{key}' ({about})"


def _hook(obj: dict[str, Any]) -> Any:
    tagged = obj.get(TAG) if len(obj) == 1 else None
    if not isinstance(tagged, list) or not tagged:
        return obj
    kind, *args = tagged
    if kind == "datetime":
        return datetime.fromisoformat(args[0])
    if kind == "timedelta":
        return timedelta(days=args[0], seconds=args[1], microseconds=args[2])
    if kind == "uuid":
        return UUID(args[0])
    return obj


def decode(payload: bytes) -> Any:
    """The value `payload` (from `encode_data` or `encode_value`) encodes.

    Raises:
        ScriptOutputError: It is not a valid encoding (e.g. nested too deeply to decode here).
    """
    try:
        return json.loads(payload.decode("utf-8", "surrogatepass"), object_hook=_hook)
    except (RecursionError, ValueError, TypeError, IndexError) as err:
        raise ScriptOutputError(f"the evaluator's answer cannot be read: {err}") from None
