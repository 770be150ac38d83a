"""Frames on the pipes between the server and its evaluator processes.

A frame is a 4-byte big-endian length and a body of parts joined by ``\\n``. Every part is
compact JSON, which never holds a raw newline, so the split is exact.
"""

from __future__ import annotations

import os
import select
import struct
import time

__all__ = ["FrameTimeout", "read_frame", "read_frame_until", "write_frame"]

_HEADER = struct.Struct(">I")


class FrameTimeout(Exception):
    """The other side did not answer in time."""


def write_frame(fd: int, parts: list[bytes]) -> None:
    """Writes one frame, blocking until it is all in the pipe."""
    body = b"\n".join(parts)
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    chunks: list[bytes] = []
    missing = size
    poller = None
    if deadline is not None:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while missing:
        if poller is not None and deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise FrameTimeout
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> list[bytes] | None:
    """Reads one frame, blocking; None at end of file."""
    return read_frame_until(fd, None, max_size=None)


def read_frame_until(fd: int, deadline: float | None, *, max_size: int | None) -> list[bytes] | None:
    """Reads one frame before `deadline` (a ``time.monotonic()`` value; None: wait for ever).

    Waiting happens in ``poll``, with the GIL released: other threads of the server run on.

    Returns:
        The frame's parts, or None at end of file (the other side is gone).

    Raises:
        FrameTimeout: The deadline passed first.
        ValueError: The frame is larger than `max_size`.
    """
    header = _read_exactly(fd, _HEADER.size, deadline)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if max_size is not None and size > max_size:
        raise ValueError(f"an answer of {size} bytes is above the limit of {max_size}")
    body = _read_exactly(fd, size, deadline)
    if body is None:
        return None
    return body.split(b"\n")
