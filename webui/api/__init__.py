"""Baton's JSON API under ``/api/v1``: flask-smorest blueprints over the `workflows` use cases.

`setup.init_api` wires it into the app; each resource module parses input, calls one use
case and lets `problems` turn domain errors into RFC 9457 responses.
"""
