"""Form schemas that can neither reach out nor stall the server.

* **No reference is ever fetched.** Validators get a `referencing` registry whose retrieval
  refuses every URI, so a ``$ref`` to ``http://...`` or ``file://...`` is never opened (at
  deploy, at completion, anywhere); deploying refuses a ``$ref`` that points outside the form.
* **Patterns run in linear time.** ``pattern`` is matched with RE2 (google-re2), which has no
  backtracking; a pattern RE2 cannot run (backreferences, lookarounds) is refused at deploy.
  ``patternProperties`` is refused (jsonschema matches it with Python's backtracking ``re``
  inside ``additionalProperties``), and a form is a flat list of named fields anyway.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from .errors import FieldError, PayloadTooLargeError

# keywords whose values are data, not subschemas: never read as schema keywords
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_REFERENCES = ("$ref", "$dynamicRef")
MAX_FORM_BYTES = 256 * 1024  # the data one completion may submit, as JSON
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported to the editor, not to stderr


def _retrieve_nothing(uri: str) -> Resource[Any]:
    """Refuse every retrieval: Baton never fetches a schema from the network or the disk."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


NO_RETRIEVAL: Registry[Any] = Registry(retrieve=_retrieve_nothing)  # type: ignore[call-arg]


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The RE2 program of a pattern (raises ``re2.error`` when RE2 cannot run it in linear time)."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every object of a schema that sits where a subschema may be, with its JSON pointer."""
    if isinstance(node, Mapping):
        yield pointer, node
        for key, value in node.items():
            if key not in _DATA_KEYWORDS:
                yield from _walk(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")


def form_schema_problems(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What makes a form schema unsafe to serve: references outside it, patterns RE2 refuses.

    Returns:
        (JSON pointer, message) pairs, in document order; empty when the schema is safe.
    """
    problems: list[tuple[str, str]] = []
    for pointer, node in _walk(schema):
        for keyword in _REFERENCES:
            ref = node.get(keyword)
            if isinstance(ref, str) and not ref.startswith("#"):
                problems.append(
                    (
                        f"{pointer}/{keyword}",
                        f"{keyword} '{ref[:200]}' points outside the form: only references inside it "
                        "('#/$defs/...') are allowed (Baton never fetches a schema)",
                    )
                )
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            try:
                compile_pattern(pattern)
            except re2.error as exc:
                problems.append(
                    (
                        f"{pointer}/pattern",
                        f"pattern '{pattern[:200]}' cannot be checked in linear time "
                        f"({_message(exc)}): drop backreferences and lookarounds",
                    )
                )
        if isinstance(node.get("patternProperties"), Mapping):
            problems.append(
                (
                    f"{pointer}/patternProperties",
                    "patternProperties is not allowed in a form: name each field",
                )
            )
    return problems


def _message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        program = compile_pattern(pattern)
    except re2.error:  # deployed before patterns were checked: refuse rather than backtrack
        yield ValidationError(f"the form's pattern {pattern!r} cannot be checked; ask an ops lead to fix it")
        return
    if program.search(instance) is None:
        shown = instance if len(instance) <= 100 else instance[:100] + "..."
        yield ValidationError(f"{shown!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        yield ValidationError("the form uses patternProperties, which Baton does not check; ask an ops lead")


@functools.lru_cache(maxsize=16)
def _safe_class(base: type[Validator]) -> type[Validator]:
    return extend(base, {"pattern": _pattern, "patternProperties": _pattern_properties})  # type: ignore[arg-type]


def make_form_validator(schema: dict[str, Any]) -> Validator:
    """A validator for a form schema: formats checked, patterns by RE2, no reference fetched."""
    cls = _safe_class(validator_for(schema, default=Draft202012Validator))
    return cls(schema, format_checker=FormatChecker(), registry=NO_RETRIEVAL)  # type: ignore[call-arg]


def field_error(error: ValidationError) -> FieldError:
    """A validation error as the failing field's path (``a/0/b``) and message."""
    path = "/".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]  # type: ignore[union-attr]
        if missing:
            path = f"{path}/{missing[0]}" if path else missing[0]
            return FieldError(path, "is required")
    return FieldError(path, error.message)


def check_size(value: Any, max_bytes: int, what: str) -> None:
    """Refuse `value` when its JSON is over `max_bytes` (PayloadTooLargeError, nothing written)."""
    size = len(json.dumps(value, default=str))
    if size > max_bytes:
        raise PayloadTooLargeError(f"{what} is {size} bytes of JSON; at most {max_bytes} are accepted")
