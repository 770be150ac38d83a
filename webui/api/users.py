"""People: the directory (anyone reads it), user administration (admins), your own account and tokens."""

from __future__ import annotations

from typing import Any

from flask import g, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from workflows.agency import ROLES
from workflows.people.auth import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    change_password,
    issue_token,
    list_tokens,
    revoke_token,
)
from workflows.people.directory import create_user, directory, person, update_user, whoami

from ..auth import by_token, csrf_token, session_secret
from .common import INT_MAX, actor, problems, text, work

blp = Blueprint(
    "users",
    __name__,
    url_prefix="/api/v1",
    description="Users and roles (admins manage them); your account and personal API tokens.",
)
ROLE = fields.String(validate=validate.OneOf(ROLES))


class UserSchema(Schema):
    """A person and their roles."""

    username = fields.String(required=True)
    name = fields.String(required=True, attribute="display_name")
    email = fields.String(allow_none=True)
    roles = fields.Function(
        lambda user: sorted(user.role_names), metadata={"type": "array", "items": {"type": "string"}}
    )
    active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class NewUserSchema(Schema):
    """A user to add."""

    username = text(max_length=100, required=True, blank=False)
    name = text(max_length=200, required=True, blank=False)
    email = text(max_length=320, allow_none=True)
    roles = fields.List(ROLE, required=True, validate=validate.Length(min=1))
    password = text(
        max_length=MAX_PASSWORD,
        min_length=MIN_PASSWORD,
        metadata={"description": "a first password (else: none yet)"},
    )


class UserChangeSchema(Schema):
    """What changes (fields left out stay as they are)."""

    name = text(max_length=200, blank=False)
    email = text(max_length=320, metadata={"description": "empty: none"})
    roles = fields.List(ROLE, validate=validate.Length(min=1), metadata={"description": "the full new set"})
    active = fields.Boolean()


class RoleQuery(Schema):
    """Only the holders of a role."""

    role = ROLE


class PasswordSchema(Schema):
    """A new password (and, for your own, the current one)."""

    password = text(max_length=MAX_PASSWORD, required=True, min_length=MIN_PASSWORD)
    current_password = text(
        max_length=MAX_PASSWORD,
        metadata={"description": "your current password (needed for your own, not for an admin's reset)"},
    )


class MeSchema(Schema):
    """You, and how you are logged in."""

    username = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String(allow_none=True)
    roles = fields.List(fields.String(), required=True)

    via = fields.String(required=True, metadata={"description": "session or token"})
    csrf_token = fields.String(
        allow_none=True,
        metadata={"description": "send as X-CSRFToken on writes made with the session cookie"},
    )


class TokenSchema(Schema):
    """A personal API token (never its secret)."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    hint = fields.String(required=True, metadata={"description": "the secret's first characters"})
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class NewTokenSchema(Schema):
    """What a token is for."""

    name = text(max_length=100, required=True, blank=False)


class IssuedTokenSchema(Schema):
    """A new token, with its secret: shown this once."""

    id = fields.Integer(required=True, attribute="token.id")
    name = fields.String(required=True, attribute="token.name")
    hint = fields.String(required=True, attribute="token.hint")
    created_at = fields.DateTime(required=True, attribute="token.created_at")
    secret = fields.String(
        required=True, metadata={"description": "send as 'Authorization: Bearer <secret>'"}
    )


@blp.get("/users")
@blp.arguments(RoleQuery, location="query", as_kwargs=True)
@blp.response(200, UserSchema(many=True))
@problems(blp, 422)
def index(role: str | None = None) -> Any:
    """Every user, or the holders of a role."""
    with work() as (session, _services):
        return directory(session, actor=actor(), role=role)


@blp.post("/users")
@blp.arguments(NewUserSchema)
@blp.response(201, UserSchema)
@problems(blp, 400, 403, 422)
def add(args: dict[str, Any]) -> Any:
    """Add a user (admins)."""
    with work(write=True) as (session, services):
        user = create_user(
            session,
            services,
            args["username"],
            actor=actor(),
            name=args["name"],
            roles=args["roles"],
            email=args.get("email"),
            password=args.get("password"),
        )
    return user, 201, {"Location": url_for("users.show", username=user.username)}


@blp.get("/users/<username>")
@blp.response(200, UserSchema)
@problems(blp, 404)
def show(username: str) -> Any:
    """One user."""
    with work() as (session, _services):
        return person(session, username, actor=actor())


@blp.patch("/users/<username>")
@blp.arguments(UserChangeSchema)
@blp.response(200, UserSchema)
@problems(blp, 400, 403, 404, 422)
def change(args: dict[str, Any], username: str) -> Any:
    """Change a user's name, e-mail, roles or activation (admins; not your own admin role)."""
    with work(write=True) as (session, services):
        return update_user(session, username, actor=actor(), at=services.runtime.clock(), **args)


@blp.put("/users/<username>/password")
@blp.arguments(PasswordSchema)
@blp.response(204)
@problems(blp, 400, 403, 404, 422)
def password(args: dict[str, Any], username: str) -> None:
    """Set a password: your own with the current one, or anyone's as an admin.

    The user's API tokens are revoked and their other sessions end. Refused (403) to a request
    made with an API token: log in with the password.
    """
    with work(write=True) as (session, services):
        change_password(
            session,
            services,
            username,
            args["password"],
            actor=actor(),
            current_password=args.get("current_password"),
            by_token=by_token(),
            keep_session=session_secret(),
        )


@blp.get("/me")
@blp.response(200, MeSchema)
@problems(blp)
def me() -> Any:
    """Who you are; a session client also gets its CSRF token here."""
    with work() as (session, _services):
        user = whoami(session, actor=actor())
    return {
        "username": user.username,
        "name": user.display_name,
        "email": user.email,
        "roles": sorted(user.role_names),
        "via": g.via,
        "csrf_token": csrf_token() if g.via == "session" else None,
    }


@blp.get("/me/tokens")
@blp.response(200, TokenSchema(many=True))
@problems(blp)
def tokens() -> Any:
    """Your API tokens, revoked ones included."""
    with work() as (session, _services):
        return list_tokens(session, actor(), actor=actor())


@blp.post("/me/tokens")
@blp.arguments(NewTokenSchema)
@blp.response(201, IssuedTokenSchema)
@problems(blp, 400, 403, 422)
def new_token(args: dict[str, Any]) -> Any:
    """Issue a personal API token; its secret is in this response only.

    Refused (403) to a request made with an API token: a token cannot mint others.
    """
    with work(write=True) as (session, services):
        issued = issue_token(
            session, services, actor(), name=args["name"], actor=actor(), by_token=by_token()
        )
        return issued, 201


@blp.delete(f"/me/tokens/<id(max={INT_MAX}):token_id>")
@blp.response(204)
@problems(blp, 404)
def drop_token(token_id: int) -> None:
    """Revoke one of your tokens: it stops working at once."""
    with work(write=True) as (session, services):
        revoke_token(session, services, token_id, actor=actor())
