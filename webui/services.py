"""Attach Baton's services to a Flask app (one set per process)."""

from __future__ import annotations

from flask import Flask, current_app

from workflows.bootstrap import build_services
from workflows.services import Services

EXTENSION = "baton"


def init_app(app: Flask) -> None:
    """Build the services for the app's database and preload deployed specs."""
    svc = build_services(app.config["DATABASE_URL"], definitions_dir=app.config.get("DEFINITIONS_DIR"))
    svc.warm_up()
    app.extensions[EXTENSION] = svc


def get_services() -> Services:
    """The services of the current app."""
    return current_app.extensions[EXTENSION]
