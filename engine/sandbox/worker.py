"""The evaluator process: runs sandboxed code on task data under OS resource limits.

Started by :mod:`.pool` as ``python -I -m engine.sandbox.worker MEMORY_BYTES``; it reads
requests from stdin and answers on stdout (see :mod:`.protocol`), one at a time, until stdin
closes. Before answering anything it limits itself:

* ``RLIMIT_AS``: its address space may grow by ``MEMORY_BYTES`` at most, so an allocation no
  guard foresaw (``'%*d' % (10**10, 1)``) fails with ``MemoryError`` at once;
* ``RLIMIT_CPU``: reset before every request to the CPU seconds used so far plus the time
  limit and a margin, so a worker its parent failed to stop is killed by the kernel;
* no files written (``RLIMIT_FSIZE``), few descriptors, no core dumps, no child processes.

The parent kills a worker that overruns the wall-clock limit, which is what stops a single
long builtin call (``pow(3, 2**24999, 2**24999 + 1)``); the compiled-in deadline checks
still stop Python-level loops with a clean error and keep the worker warm.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import resource
import sys
import traceback
from typing import Any

from .deadline import Deadline, DeadlineExceeded
from .environment import RestrictedEnvironment
from .errors import ScriptPolicyError
from .protocol import read_frame, write_frame
from .wire import decode, encode_data, encode_value, human_size

__all__ = ["main"]

SCRIPT_FILENAME = "<string>"
_CPU_MARGIN = 2
_IDLE_CPU = 10


def _vm_size() -> int:
    """This process's address space in bytes (VmSize)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize in /proc/self/status")


def _limit(kind: int, value: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def _limit_resources(memory: int) -> None:
    _limit(resource.RLIMIT_AS, _vm_size() + memory)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_NOFILE, 16)
    with contextlib.suppress(ValueError, OSError):  # not every platform lets it drop to zero
        _limit(resource.RLIMIT_NPROC, 0)


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _allow_cpu(seconds: float) -> None:
    soft = math.ceil(_cpu_used() + seconds) + _CPU_MARGIN
    _hard_soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _line_of(err: BaseException) -> int | None:
    if isinstance(err, SyntaxError):
        return err.lineno
    line = None
    for frame, lineno in traceback.walk_tb(err.__traceback__):
        if frame.f_code.co_filename == SCRIPT_FILENAME:
            line = lineno
    return line


def _message(err: BaseException) -> str:
    if isinstance(err, ScriptPolicyError):
        return str(err)
    if len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err)


def _failure(kind: str, message: str, line: int | None = None, *, retire: bool = False) -> list[bytes]:
    header = {"ok": False, "type": kind, "message": message, "line": line, "retire": retire}
    return [json.dumps(header).encode()]


class _Evaluator:
    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.environments: dict[float, RestrictedEnvironment] = {}

    def environment(self, time_limit: float) -> RestrictedEnvironment:
        env = self.environments.get(time_limit)
        if env is None:
            env = self.environments[time_limit] = RestrictedEnvironment(time_limit=time_limit)
        return env

    def handle(self, parts: list[bytes]) -> tuple[list[bytes], bool]:
        """The answer to one request, and whether this process must retire after sending it."""
        header = json.loads(parts[0])
        failure: list[bytes] | None = None
        retire = False
        try:
            reply = self._run(header, parts)
        except MemoryError:
            # the heap may be fragmented past use: answer, then make way for a fresh process
            retire = True
            failure = _failure(
                "ScriptMemoryError",
                f"Script exceeded the memory limit of {human_size(self.memory)} and was stopped",
                retire=True,
            )
        except DeadlineExceeded:  # escaped a handler: still a timeout
            failure = _failure("ScriptTimeoutError", Deadline(float(header["limit"])).timeout_error().args[0])
        except Exception as err:
            failure = _failure(type(err).__name__, _message(err), _line_of(err))
        if failure is not None:
            gc.collect()  # what the code left behind goes before the next request
            return failure, retire
        return reply, False

    def _run(self, header: dict[str, Any], parts: list[bytes]) -> list[bytes]:
        env = self.environment(float(header["limit"]))
        context = decode(parts[1])
        max_bytes = int(header["max"])
        _allow_cpu(env.time_limit)
        if header["op"] == "eval":
            value = env.evaluate(header["source"], context)
            return [b'{"ok":true}', encode_value(value, max_bytes)]
        external = decode(parts[2])
        env.execute(header["source"], context, external)
        return [b'{"ok":true}', encode_data(context, max_bytes, "the task data the script leaves")]


def _private_stdout() -> int:
    """A descriptor for the answers; fd 1 then points to /dev/null so nothing else can write there."""
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return out


def main(argv: list[str] | None = None) -> int:
    """Serves requests from stdin until it closes (or a request asks to retire the process).

    Args:
        argv: ``[MEMORY_BYTES]``.
    """
    args = sys.argv[1:] if argv is None else argv
    memory = int(args[0])
    out = _private_stdout()
    _limit_resources(memory)
    _allow_cpu(_IDLE_CPU)  # moved on before each request
    evaluator = _Evaluator(memory)
    write_frame(out, [b'{"ready":true}'])
    while True:
        parts = read_frame(0)
        if parts is None:
            return 0
        reply, retire = evaluator.handle(parts)
        write_frame(out, reply)
        if retire:
            return 0


if __name__ == "__main__":
    sys.exit(main())
