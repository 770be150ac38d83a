"""Cost of completing one task over authenticated HTTP vs the same step in SpiffWorkflow in memory.

For each history length (QC rework rounds already behind the engagement) it times the same
completions, alternating step by step with the in-memory baseline (as `bench.bench_step` does):

* baseline: SpiffWorkflow alone, in memory (set data, run, do_engine_steps);
* service: `workflows.engagements.complete_task` in a unit of work (bench_step's "warm");
* HTTP in-process: ``POST /api/v1/engagements/{id}/tasks/{task}/complete`` with a bearer token
  and the ETag of the previous answer in ``If-Match``, through the Flask app (WSGI, Flask's
  test client): token lookup, CSRF/permission checks, marshmallow parsing, the version check
  under the instance lock, the step, the new version, JSON response;
* HTTP loopback: the same request over a kept-alive TCP connection on 127.0.0.1 to the app
  served by werkzeug (HTTP/1.1) in a separate process.

Run: ``python -m bench.bench_http [--db sqlite|postgres|URL] [--rounds 0,50]``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import http.client
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from werkzeug.serving import WSGIRequestHandler, make_server

from bench.bench_step import (
    PG_URL,
    SAMPLES,
    actor_of,
    baton_complete,
    baton_start,
    fresh_services,
    load_spec,
    memory_complete,
    memory_run,
    split,
)
from webui import create_app
from workflows.demo.samples import Step, qc_rounds_story
from workflows.people.auth import issue_token
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=170)
SETTINGS = {"TESTING": False, "SECRET_KEY": "bench", "SESSION_COOKIE_SECURE": False}
MODES = ("service", "wsgi", "loopback")


class Http11Handler(WSGIRequestHandler):
    """werkzeug's handler, keeping connections alive (a client reuses one, as a browser does)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:  # quiet
        return


def serve(url: str, ready: Any) -> None:
    """Child process: the app on its own services, as a server process would run it."""
    app = create_app({"DATABASE_URL": url, "DEFINITIONS_DIR": str(ROOT / "definitions"), **SETTINGS})
    server = make_server("127.0.0.1", 0, app, request_handler=Http11Handler)
    ready.put(server.server_port)
    server.serve_forever()


class Loopback:
    """A kept-alive HTTP connection to the app served by a child process."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        self.process = context.Process(target=serve, args=(url, ready), daemon=True)
        self.process.start()
        self.connection = http.client.HTTPConnection("127.0.0.1", ready.get(timeout=60))

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        self.connection.request("POST", path, body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def close(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.join(10)


def tokens_for(services: Services) -> dict[str, str]:
    """A personal token for each person who completes steps (ana, pete)."""
    with services.db.unit_of_work() as session:
        return {
            name: issue_token(session, services, name, name="bench", actor=name).secret
            for name in ("ana", "pete")
        }


class Completer:
    """Completes steps of one engagement over HTTP, carrying the ETag of each answer to the next."""

    def __init__(self, engagement_id: int, tokens: dict[str, str], etag: str | None) -> None:
        self.engagement_id = engagement_id
        self.tokens = tokens
        self.etag = etag

    def request(self, step: Step) -> tuple[str, bytes, dict[str, str]]:
        path = f"/api/v1/engagements/{self.engagement_id}/tasks/{step.task}/complete"
        body = json.dumps({"data": copy.deepcopy(step.data)}).encode()
        headers = {
            "Authorization": f"Bearer {self.tokens[actor_of(step.task)]}",
            "Content-Type": "application/json",
        }
        if self.etag:
            headers["If-Match"] = self.etag
        return path, body, headers

    def answered(self, status: int, headers: dict[str, str], body: bytes) -> None:
        if status != 200:
            raise RuntimeError(f"completion answered {status}: {body[:300]!r}")
        self.etag = headers.get("ETag")


def measure(url: str, rounds_list: list[int], progress: Progress) -> list[dict[str, Any]]:
    """Median step times per history length and mode, each alternating with the baseline."""
    spec, subs = load_spec()
    results = []
    task = progress.add_task("history lengths", total=len(rounds_list) * len(MODES))
    for rounds in rounds_list:
        story = qc_rounds_story(rounds + SAMPLES + 1)
        prefix, window = split(story, rounds)
        services = fresh_services(url)
        tokens = tokens_for(services)
        app = create_app({"DATABASE_URL": url, **SETTINGS}, with_services=services)
        client = app.test_client()
        row: dict[str, Any] = {"rounds": rounds}
        try:
            for mode in MODES:
                wf = memory_run(spec, subs, story, len(prefix))
                eid = baton_start(services, story)
                for step in prefix:
                    baton_complete(services, eid, step)
                etag = client.get(f"/api/v1/engagements/{eid}", headers=_auth(tokens["ana"])).headers["ETag"]
                completer = Completer(eid, tokens, etag)
                loopback = Loopback(url) if mode == "loopback" else None
                step_once = _stepper(mode, services, eid, client, loopback, completer)
                gc.collect()
                memory, timed = [], []
                try:
                    for step in window:
                        memory.append(memory_complete(wf, step))
                        timed.append(step_once(step))
                finally:
                    if loopback is not None:
                        loopback.close()
                row[f"memory_{mode}"] = statistics.median(memory)
                row[mode] = statistics.median(timed)
                progress.advance(task)
        finally:
            services.db.dispose()
        results.append(row)
    return results


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _stepper(
    mode: str, services: Services, eid: int, client: Any, loopback: Loopback | None, completer: Completer
) -> Callable[[Step], float]:
    """A function completing one step the mode's way; returns the seconds it took."""

    def service(step: Step) -> float:
        return baton_complete(services, eid, step)

    def wsgi(step: Step) -> float:
        path, body, headers = completer.request(step)  # built outside the timing
        t0 = time.perf_counter()
        response = client.post(path, data=body, headers=headers)
        elapsed = time.perf_counter() - t0
        completer.answered(response.status_code, dict(response.headers), response.data)
        return elapsed

    def over_loopback(step: Step) -> float:
        assert loopback is not None
        path, body, headers = completer.request(step)
        t0 = time.perf_counter()
        status, answer_headers, answer = loopback.post(path, body, headers)
        elapsed = time.perf_counter() - t0
        completer.answered(status, answer_headers, answer)
        return elapsed

    return {"service": service, "wsgi": wsgi, "loopback": over_loopback}[mode]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres, or a SQLAlchemy URL")
    parser.add_argument("--rounds", default="0,50", help="QC rework rounds before the measured steps")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="baton-bench-")
    url = {"sqlite": f"sqlite:///{os.path.join(tmp, 'bench.sqlite3')}", "postgres": PG_URL}.get(
        args.db, args.db
    )
    rounds_list = [int(r) for r in args.rounds.split(",")]
    with Progress(console=console, transient=True) as progress:
        results = measure(url, rounds_list, progress)
    table = Table(title=f"one task completion, median of {2 * SAMPLES} ({url.split(':')[0]})")
    for col in (
        "QC rounds",
        "SpiffWorkflow in memory",
        "service",
        "x",
        "HTTP in-process",
        "x",
        "HTTP loopback",
        "x",
    ):
        table.add_column(col, justify="right")
    for r in results:
        memory = statistics.median([r[f"memory_{m}"] for m in MODES])
        cells = [str(r["rounds"]), f"{memory * 1e3:.2f} ms"]
        for mode in MODES:
            cells += [f"{r[mode] * 1e3:.2f} ms", f"{r[mode] / r['memory_' + mode]:.1f}x"]
        # what the HTTP layer adds, each measured against its own interleaved baseline
        overhead = (r["wsgi"] / r["memory_wsgi"]) / (r["service"] / r["memory_service"])
        table.add_row(*cells, f"{overhead:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
