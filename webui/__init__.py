"""Baton's web layer: Flask pages and the JSON API over the workflows services, behind logins."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from workflows.services import Services

from . import (
    account_pages,
    audit_pages,
    auth,
    definition_files,
    diagrams,
    engagement_ops,
    faults,
    formatting,
    inbox_pages,
    lanes_pages,
    migration_pages,
    pages,
    people_pages,
    reports_pages,
    services,
    tasks_pages,
    workload_pages,
)
from .api.setup import init_api


def create_app(test_config: dict[str, Any] | None = None, *, with_services: Services | None = None) -> Flask:
    """Create the Flask application.

    Args:
        test_config: settings that replace the environment (tests pass the database URL).
        with_services: Baton's services to use instead of building them from the settings
            (tests hand in theirs, with a clock they move by hand).

    Configuration keys: ``DATABASE_URL`` (default: SQLite in the instance folder),
    ``DEFINITIONS_DIR``, ``SECRET_KEY``, ``SESSION_COOKIE_SECURE`` (see `webui.auth`);
    from the environment as ``BATON_DATABASE_URL`` etc.
    """
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        DATABASE_URL=f"sqlite:///{os.path.join(app.instance_path, 'baton.sqlite3')}",
        DEFINITIONS_DIR=None,
        **auth.DEFAULTS,
    )
    if test_config is None:
        app.config.from_prefixed_env("BATON")
    else:
        app.config.update(test_config)
    if with_services is None:
        services.init_app(app)
    else:
        app.extensions[services.EXTENSION] = with_services
    faults.init_app(app)  # before any blueprint: it bounds the ids of page paths
    auth.init_app(app)
    formatting.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(diagrams.bp)
    app.register_blueprint(migration_pages.bp)
    app.register_blueprint(definition_files.bp)
    app.register_blueprint(reports_pages.bp)
    app.register_blueprint(inbox_pages.bp)
    app.register_blueprint(tasks_pages.bp)
    for module in (people_pages, account_pages, lanes_pages, engagement_ops, workload_pages, audit_pages):
        app.register_blueprint(module.bp)  # running the agency: people, cover, operations, audit
    init_api(app)
    return app
