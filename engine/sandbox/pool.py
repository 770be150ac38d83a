"""Warm evaluator processes, each running one piece of code at a time under OS limits.

The server never runs sandboxed code in its own process: a thread hands the request to an
idle evaluator (:mod:`.worker`) and waits on the pipe with a wall-clock deadline, in ``poll``
with the GIL released, so other requests go on being answered whatever the code does. An
evaluator that overruns is killed (``SIGKILL``) and a fresh one is started on the next demand.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from typing import Any

from .errors import EvaluatorUnavailableError, ScriptCrashedError, ScriptTimeoutError
from .limits import SandboxLimits
from .protocol import FrameTimeout, read_frame_until, write_frame
from .wire import human_size

__all__ = ["EvaluatorPool", "shared_pool"]

_START_TIMEOUT = 30.0  # a busy machine can take seconds to start an interpreter
_MAX_JOBS = 10_000  # an evaluator retires after this many requests
_REPLY_OVERHEAD = 64 * 1024


class _Evaluator:
    """One evaluator process and its two pipes."""

    def __init__(self, memory_limit: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "engine.sandbox.worker", str(memory_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,  # no database socket or log file reaches it
            start_new_session=True,  # a Ctrl-C meant for the server does not reach it
            bufsize=0,
            env={"PATH": os.defpath},  # none of the server's settings or secrets
            cwd="/",
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.to_child = self.proc.stdin.fileno()
        self.from_child = self.proc.stdout.fileno()
        self.jobs = 0
        try:
            ready = read_frame_until(self.from_child, time.monotonic() + _START_TIMEOUT, max_size=1024)
        except (FrameTimeout, ValueError):
            ready = None
        if ready is None:
            self.kill()
            raise EvaluatorUnavailableError("the script evaluator process failed to start")

    def call(self, parts: list[bytes], deadline: float, max_size: int) -> list[bytes] | None:
        """Sends a request and waits for the answer until `deadline`; None if the process died."""
        self.jobs += 1
        try:
            write_frame(self.to_child, parts)
        except (BrokenPipeError, ConnectionResetError):
            return None
        return read_frame_until(self.from_child, deadline, max_size=max_size)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def death(self) -> str:
        """How the process ended (it has ended, or is being killed)."""
        code = self.proc.wait()
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with status {code}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.close()

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class EvaluatorPool:
    """Evaluator processes sharing one set of limits, started on demand and kept warm.

    Args:
        limits: The memory limit and pool size apply to every process; the time limit and
            data size bound are the defaults of `run`.
    """

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        self._idle: list[_Evaluator] = []
        self._running = 0  # processes alive, idle or busy
        self._closed = False
        self._cond = threading.Condition()
        _POOLS.add(self)

    def run(self, parts: list[bytes], *, time_limit: float, max_bytes: int) -> list[bytes]:
        """Runs one request in an evaluator and returns its answer's parts.

        Raises:
            ScriptTimeoutError: No answer within ``time_limit`` + grace; the evaluator was killed.
            ScriptCrashedError: The evaluator died while running the code.
            EvaluatorUnavailableError: No evaluator could be had.
        """
        evaluator = self._acquire()
        keep = False
        try:
            deadline = time.monotonic() + time_limit + self.limits.grace
            try:
                reply = evaluator.call(parts, deadline, max_bytes + _REPLY_OVERHEAD)
            except FrameTimeout:
                raise ScriptTimeoutError(
                    f"Script exceeded the time limit of {time_limit:g} s and was stopped"
                ) from None
            except ValueError as err:  # an answer bigger than any the evaluator may give
                raise ScriptCrashedError(f"the script evaluator gave an invalid answer: {err}") from None
            if reply is None:
                raise ScriptCrashedError(
                    f"the script evaluator stopped while running the code ({evaluator.death()}); it "
                    f"probably exceeded the memory limit of {human_size(self.limits.memory_limit)}"
                )
            keep = evaluator.jobs < _MAX_JOBS and not _retiring(reply)
            return reply
        finally:
            self._release(evaluator, keep)

    def warm_up(self, *, wait: bool = True) -> None:
        """Starts one evaluator (if none is idle), so the first evaluation does not wait for it.

        Args:
            wait: False to start it in the background and return at once (at boot).
        """
        if not wait:
            threading.Thread(target=self._warm_quietly, name="sandbox-warm-up", daemon=True).start()
            return
        self._release(self._acquire(), True)

    def _warm_quietly(self) -> None:
        # at boot: an evaluator that cannot start now is started (and reported) on first use
        with contextlib.suppress(EvaluatorUnavailableError):
            self.warm_up()

    def close(self) -> None:
        """Stops the idle evaluators (busy ones stop when their caller hands them back)."""
        self._closed = True
        with self._cond:
            idle, self._idle = self._idle, []
            self._running -= len(idle)
        for evaluator in idle:
            evaluator.kill()

    def _acquire(self) -> _Evaluator:
        give_up = time.monotonic() + self.limits.wait_for_worker
        with self._cond:
            while True:
                while self._idle:
                    evaluator = self._idle.pop()
                    if evaluator.alive():
                        return evaluator
                    self._running -= 1
                    evaluator.kill()
                if self._running < self.limits.workers:
                    self._running += 1
                    break
                remaining = give_up - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    raise EvaluatorUnavailableError(
                        f"all {self.limits.workers} script evaluators stayed busy for "
                        f"{self.limits.wait_for_worker:g} s; try again"
                    )
        try:
            return _Evaluator(self.limits.memory_limit)
        except BaseException as err:
            with self._cond:
                self._running -= 1
                self._cond.notify()
            if isinstance(err, EvaluatorUnavailableError):
                raise
            if isinstance(err, OSError | FrameTimeout):
                message = f"the script evaluator process cannot be started: {err}"
                raise EvaluatorUnavailableError(message) from err
            raise

    def _release(self, evaluator: _Evaluator, keep: bool) -> None:
        keep = keep and not self._closed
        if not keep:
            evaluator.kill()
        with self._cond:
            if keep:
                self._idle.append(evaluator)
            else:
                self._running -= 1
            self._cond.notify()
            replace = not keep and not self._idle and not self._closed
        if replace:  # the next caller finds a warm evaluator instead of waiting for one to start
            self.warm_up(wait=False)

    def _forget(self) -> None:
        """In a forked child: the parent's evaluators are not ours to use or stop.

        No lock is taken: another thread of the parent may have held it at the fork.
        """
        self._cond = threading.Condition()
        for evaluator in self._idle:
            evaluator.close()
        self._idle = []
        self._running = 0


def _retiring(reply: list[bytes]) -> bool:
    try:
        header: dict[str, Any] = json.loads(reply[0])
    except ValueError:
        return True
    return bool(header.get("retire"))


_POOLS: weakref.WeakSet[EvaluatorPool] = weakref.WeakSet()
_SHARED: dict[tuple[int, int, float, float], EvaluatorPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(limits: SandboxLimits) -> EvaluatorPool:
    """The process-wide pool for `limits`' memory limit, size and waits (one per combination)."""
    key = (limits.memory_limit, limits.workers, limits.grace, limits.wait_for_worker)
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None:
            pool = _SHARED[key] = EvaluatorPool(limits)
        return pool


def _close_all() -> None:
    for pool in list(_POOLS):
        pool.close()


def _after_fork() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()  # another thread of the parent may have held it at the fork
    for pool in list(_POOLS):
        pool._forget()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_after_fork)
