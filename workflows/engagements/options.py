"""The options an engagement starts with, checked against the schema its definition declares.

A definition names the JSON Schema of its options on its start event
(``optionsJsonSchemaFilename``); the schema travels with the version like a form. Each option may
say which roles may set it (``"x-set-by": ["ops_lead", "leadership"]``): the approval policy of
change orders is not the account manager's to choose. A definition that declares no schema takes
no options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from engine.errors import FieldError, FormValidationError, NotFoundError
from engine.formschema import check_size, field_error, make_form_validator
from workflows.people.permissions import PermissionDenied
from workflows.people.users import Person
from workflows.services import Services

MAX_OPTIONS_BYTES = 16 * 1024
SET_BY = "x-set-by"  # the roles that may set an option (absent: whoever may start)


def _roles(roles: list[str]) -> str:
    names = [r if r == "leadership" else r.replace("_", " ") + "s" for r in roles]
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def check_options(
    schema: Mapping[str, Any] | None, options: Mapping[str, Any], *, doer: Person
) -> dict[str, Any]:
    """The options as they will be stored, once they pass the definition's schema and roles.

    Args:
        schema: the version's options schema (None: it takes none).
        options: as given.
        doer: who starts the engagement.

    Raises:
        PayloadTooLargeError: over `MAX_OPTIONS_BYTES` of JSON.
        PermissionDenied: an option the doer's roles may not set.
        FormValidationError: an unknown option or a value the schema refuses (paths under /options).
    """
    opts = dict(options)
    check_size(opts, MAX_OPTIONS_BYTES, "the options")
    if schema is None:
        if opts:
            raise FormValidationError(
                "options", [FieldError("", "this definition takes no options")], root="options"
            )
        return opts
    properties = schema.get("properties") or {}
    for key in sorted(opts):
        allowed = properties.get(key, {}).get(SET_BY) if isinstance(properties.get(key), Mapping) else None
        if allowed and not doer.has_role(*allowed):
            raise PermissionDenied(
                f"{doer.username} may not set the option {key}: only {_roles(list(allowed))} may"
            )
    errors = [field_error(e) for e in make_form_validator(dict(schema)).iter_errors(opts)]
    if errors:
        raise FormValidationError("options", sorted(errors, key=lambda e: e.path), root="options")
    return opts


def option_names(session: Session, services: Services, process_id: str) -> frozenset[str]:
    """The options the latest version of `process_id` takes (empty: none, or not deployed)."""
    registry = services.runtime.definitions
    try:
        version = registry.info(session, registry.latest(session, process_id).id)
    except NotFoundError:
        return frozenset()
    schema = registry.options_schema(version) or {}
    return frozenset(schema.get("properties") or {})
