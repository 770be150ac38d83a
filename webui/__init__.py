"""Baton's web layer: Flask pages (and, later, the JSON API) over the workflows services."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from . import diagrams, pages, services


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask application.

    Args:
        test_config: settings that replace the environment (tests pass the database URL).

    Configuration keys: ``DATABASE_URL`` (default: SQLite in the instance folder),
    ``DEFINITIONS_DIR``; from the environment as ``BATON_DATABASE_URL`` etc.
    """
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        DATABASE_URL=f"sqlite:///{os.path.join(app.instance_path, 'baton.sqlite3')}",
        DEFINITIONS_DIR=None,
    )
    if test_config is None:
        app.config.from_prefixed_env("BATON")
    else:
        app.config.update(test_config)
    services.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(diagrams.bp)
    return app
