"""Task forms as the editor sees them: checking a JSON Schema before it travels with a deploy.

A form is checked against its JSON Schema meta-schema (every error, with where it is), then
against what the task page can show (an object of typed fields; a table's rows need columns),
and, for an approval step, against the decision vocabulary the deploy lint enforces
(`workflows.agency.rule_approvals`), so the editor says early what a deploy would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from engine.formschema import form_schema_problems
from workflows.agency import APPROVAL_DECISIONS, APPROVED, decision_fields

# the field types the task page renders (webui/forms.py `kind_of`)
FIELD_TYPES = ("string", "number", "integer", "boolean", "array", "object")
# a form file name, as forms are kept in definitions/forms and in a version's `forms`
FORM_NAME_SUFFIX = ".schema.json"


@dataclass(frozen=True)
class SchemaProblem:
    """One problem of a form schema: where (a JSON pointer, "" for the whole form) and what.

    `kind`: "schema" (the meta-schema refuses it: nothing can be shown), "page" (the task page
    cannot show it as meant) or "approval" (the deploy lint would refuse the approval step).
    """

    path: str
    message: str
    kind: str = "schema"

    def as_json(self) -> dict[str, str]:
        """A JSON-ready dict for the editor."""
        return {"path": self.path, "message": self.message, "kind": self.kind}


def schema_problems(schema: Mapping[str, Any], *, approval: bool = False) -> list[SchemaProblem]:
    """Everything wrong with a form schema: the meta-schema first, then what the task page needs.

    Args:
        schema: the parsed JSON Schema.
        approval: the form belongs to an approval step (it must offer the decision vocabulary).
    """
    cls = validator_for(schema, default=Draft202012Validator)
    meta = cls(cls.META_SCHEMA)
    problems = [
        SchemaProblem(_pointer(error.absolute_path), f"not a valid JSON Schema: {error.message}")
        for error in sorted(meta.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        return problems
    problems.extend(SchemaProblem(pointer, message) for pointer, message in form_schema_problems(schema))
    if problems:
        return problems
    problems.extend(_page_problems(schema))
    if approval and not problems:
        problems.extend(_approval_problems(schema))
    return problems


def _pointer(path: Any) -> str:
    return "".join(f"/{step}" for step in path)


def _page_problems(schema: Mapping[str, Any]) -> list[SchemaProblem]:
    if schema.get("type") != "object":
        return [SchemaProblem("/type", 'a form is an object: set "type": "object"', "page")]
    properties = schema.get("properties") or {}
    problems = []
    for name, prop in properties.items():
        where = f"/properties/{name}"
        if not isinstance(prop, Mapping) or prop.get("type") not in FIELD_TYPES:
            problems.append(
                SchemaProblem(where, f"field {name} needs a type: one of {', '.join(FIELD_TYPES)}", "page")
            )
            continue
        items = prop.get("items")
        items = items if isinstance(items, Mapping) else {}
        if prop["type"] == "array" and items.get("type") == "object" and not items.get("properties"):
            problems.append(
                SchemaProblem(f"{where}/items", f"the table {name} needs at least one column", "page")
            )
    for name in schema.get("required") or []:
        if name not in properties:
            problems.append(
                SchemaProblem("/required", f"required field {name} is not among the fields", "page")
            )
    return problems


def _approval_problems(schema: Mapping[str, Any]) -> list[SchemaProblem]:
    decision, comment = decision_fields(dict(schema))
    vocabulary = ", ".join(APPROVAL_DECISIONS)
    if decision is None:
        return [SchemaProblem("/properties", "an approval step needs a '*_decision' field", "approval")]
    values = (schema["properties"][decision] or {}).get("enum") or []
    problems = []
    if any(v not in APPROVAL_DECISIONS for v in values) or APPROVED not in values or len(values) < 2:
        problems.append(
            SchemaProblem(
                f"/properties/{decision}",
                f"'{decision}' must offer '{APPROVED}' and at least one more of: {vocabulary}",
                "approval",
            )
        )
    if comment is None:
        problems.append(
            SchemaProblem("/properties", "an approval step needs a '*_comment' field", "approval")
        )
    return problems
