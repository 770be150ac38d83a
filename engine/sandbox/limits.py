"""The hard limits every script, condition and expression runs under."""

from __future__ import annotations

from dataclasses import dataclass

from .deadline import DEFAULT_TIME_LIMIT

__all__ = ["DEFAULT_LIMITS", "MIB", "SandboxLimits"]

MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    """How far code may go before it is stopped.

    Attributes:
        time_limit: Seconds of wall-clock time one evaluation or script may take. Python-level
            loops stop at this point with a clean error; a single long builtin call is stopped
            by killing its evaluator process ``grace`` seconds later.
        grace: Seconds allowed beyond ``time_limit`` for passing data to and from the
            evaluator before it is killed.
        memory_limit: Bytes of address space an evaluator process may use beyond what it
            needs at start (``RLIMIT_AS``); an allocation past it fails with ``MemoryError``.
        max_data_bytes: The largest task data (as stored, JSON) a script may leave, and the
            largest value an expression may return.
        workers: How many evaluator processes may run at once (each serves one evaluation
            at a time; they are started on demand and kept warm).
        wait_for_worker: Seconds a caller waits for an evaluator when all are busy.
    """

    time_limit: float = DEFAULT_TIME_LIMIT
    grace: float = 0.5
    memory_limit: int = 256 * MIB
    max_data_bytes: int = 1 * MIB
    workers: int = 4
    wait_for_worker: float = 10.0

    def __post_init__(self) -> None:
        if self.time_limit <= 0 or self.grace <= 0 or self.wait_for_worker <= 0:
            raise ValueError("time limits must be positive")
        if self.memory_limit < 16 * MIB or self.max_data_bytes < 1024 or self.workers < 1:
            raise ValueError("memory_limit ≥ 16 MiB, max_data_bytes ≥ 1 KiB and workers ≥ 1 are required")


DEFAULT_LIMITS = SandboxLimits()
