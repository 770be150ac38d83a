"""Task forms in the browser: the fields a JSON Schema asks for, and the posted form read back.

A field's HTML name is its JSON path with ``/`` between the steps (``deliverables/0/name``),
the same path the engine's `FieldError` names, so each error lands next to its field.
Values are converted by the schema's types; what cannot be converted is passed on as typed
(``"abc"`` for a number), so the engine's validation, the authoritative one, reports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

DECISION_SUFFIX, COMMENT_SUFFIX = "_decision", "_comment"
# commonmark without raw HTML: the instructions come from definitions, never trusted as markup
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def instructions_html(text: str | None) -> Markup | None:
    """A step's instructions (Markdown) as safe HTML."""
    if not text:
        return None
    return Markup(_MARKDOWN.render(text))  # safe: raw HTML is disabled above


def kind_of(schema: Mapping[str, Any]) -> str:
    """How a property is edited: enum, date, text, textarea, number, integer, boolean, list, rows, map."""
    kind = schema.get("type")
    if kind == "string":
        if "enum" in schema:
            return "enum"
        if schema.get("format") == "date":
            return "date"
        return "textarea" if int(schema.get("maxLength", 0)) > 300 else "text"
    if kind in ("number", "integer", "boolean"):
        return str(kind)
    if kind == "array":
        return "rows" if schema.get("items", {}).get("type") == "object" else "list"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map"
    return "text"


def decision_field(schema: Mapping[str, Any] | None) -> str | None:
    """The approval decision property of a form (``*_decision``), if it has one."""
    for name in (schema or {}).get("properties", {}):
        if name.endswith(DECISION_SUFFIX):
            return str(name)
    return None


def _scalar(schema: Mapping[str, Any], raw: str) -> Any:
    kind = schema.get("type")
    if kind in ("number", "integer"):
        try:
            number = float(raw)
        except ValueError:
            return raw  # reported by the schema's validation
        return int(number) if kind == "integer" and number.is_integer() else number
    return raw


def _indices(form: MultiDict[str, str], prefix: str) -> list[int]:
    found = {int(m.group(1)) for key in form if (m := re.fullmatch(rf"{re.escape(prefix)}/(\d+)(/.*)?", key))}
    return sorted(found)


def read_form(schema: Mapping[str, Any] | None, form: MultiDict[str, str]) -> dict[str, Any]:
    """The data of a posted task form, shaped by its JSON Schema (empty fields left out)."""
    data: dict[str, Any] = {}
    for name, prop in (schema or {}).get("properties", {}).items():
        kind = kind_of(prop)
        if kind == "boolean":
            if f"{name}/present" in form or name in form:
                data[name] = form.get(name) in ("on", "true", "1")
        elif kind == "rows":
            items = prop.get("items", {}).get("properties", {})
            rows = []
            for i in _indices(form, name):
                row = {
                    key: _scalar(sub, form.get(f"{name}/{i}/{key}", "").strip())
                    for key, sub in items.items()
                    if form.get(f"{name}/{i}/{key}", "").strip()
                }
                if row:
                    rows.append(row)
            if rows or _indices(form, name):
                data[name] = rows
        elif kind == "list":
            values = [form.get(f"{name}/{i}", "").strip() for i in _indices(form, name)]
            kept = [_scalar(prop.get("items", {}), v) for v in values if v]
            if kept or values:
                data[name] = kept
        elif kind == "map":
            pairs = {}
            for i in _indices(form, name):
                key = form.get(f"{name}/{i}/key", "").strip()
                value = form.get(f"{name}/{i}/value", "").strip()
                if key or value:
                    pairs[key] = _scalar(prop["additionalProperties"], value)
            if pairs:
                data[name] = pairs
        else:
            raw = form.get(name, "")
            if raw.strip():
                data[name] = _scalar(prop, raw.strip())
    return data


def map_rows(value: Any) -> list[tuple[str, Any]]:
    """A map's entries as rows to edit (one empty row when there are none)."""
    if isinstance(value, Mapping) and value:
        return list(value.items())
    return [("", "")]
