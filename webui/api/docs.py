"""A browsable page of the API, rendered on the server from the OpenAPI document (no CDN, no script)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask_smorest import Api

from .problems import DOCS, PROBLEM_TYPES

bp = Blueprint("api_docs", __name__, url_prefix="/api")
METHODS = ("get", "post", "put", "patch", "delete")


def _api() -> Api:
    return current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]


def _ref_name(schema: dict[str, Any] | None) -> str | None:
    """The component name a schema refers to (or, for arrays, its items)."""
    if not schema:
        return None
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        inner = _ref_name(schema.get("items"))
        return f"{inner}[]" if inner else "array"
    return schema.get("type")


@bp.get("/docs")
def page() -> str:
    """Every operation by tag, its parameters, body and answers; the schemas; the problem types."""
    spec = _api().spec.to_dict()
    operations: dict[str, list[dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody", {}).get("content", {})
            responses = []
            for status, answer in op.get("responses", {}).items():
                content = answer.get("content", {})
                media = next(iter(content), None)
                schema = _ref_name(content[media].get("schema")) if media else None
                responses.append(
                    {"status": status, "description": answer.get("description", ""), "schema": schema}
                )
            for tag in op.get("tags", ["other"]):
                operations.setdefault(tag, []).append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "summary": op.get("summary", ""),
                        "description": op.get("description", ""),
                        "parameters": [*shared, *op.get("parameters", [])],
                        "body": _ref_name(body.get("application/json", {}).get("schema")),
                        "responses": responses,
                    }
                )
    problems = [
        {"slug": k, "status": s, "title": t, "anchor": DOCS.rsplit("#", 1)[1] + k}
        for k, (s, t) in PROBLEM_TYPES.items()
    ]
    return render_template(
        "api_docs.html",
        spec=spec,
        tags=spec.get("tags", []),
        operations=operations,
        schemas=spec.get("components", {}).get("schemas", {}),
        problems=problems,
    )
