"""Plain ASGI pieces the hot endpoints share (the framework's request objects cost more than a
decision), and the checks a request body passes before anything of it is decided: its size (413,
read no further than the limit), UTF-8 and nesting depth (422 naming ``$``). A body refused here
is refused whole: nothing of it reaches the engine or the stream."""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

# JSON nested deeper than this is refused before it is decoded (an event is an object of scalars
# and small lists; a batch adds one level): the decoders recurse, and 100,000 levels crash them.
MAX_DEPTH = 32


class BodyRefused(Exception):
    """The request body as a whole is refused: ``status`` (413 or 422), the field (``$``) and the problem."""

    def __init__(self, status: int, title: str, problem: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.problem, self.detail = status, title, problem, detail
        self.field = "$"

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        # The rest of a too-large body is not read: the connection ends with the answer.
        return [(b"connection", b"close")] if self.status == 413 else []


class Disconnected(Exception):
    """The client went away before its body was whole: nothing of it is decided, nothing answered."""


def too_large(limit: int, what: str = "the body") -> BodyRefused:
    return BodyRefused(413, "Payload too large", f"larger than {limit} bytes",
                       f"$: {what} is larger than {limit} bytes (QALQAN_MAX_BODY): send less at once")


def declared_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(receive: Any, limit: int | None = None, scope: dict[str, Any] | None = None) -> bytes:
    """The whole request body, however many messages it came in; past ``limit`` bytes (declared in
    Content-Length, or once as many have come) ``BodyRefused`` (413), without reading further.
    ``Disconnected`` when the client leaves before the end of its body."""
    if limit is not None and scope is not None:
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            raise too_large(limit, f"the body ({declared} bytes)")
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Keeps only brackets, as +1 (opening) and -1 (closing, 0xff read as a signed byte).
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_depth(body: bytes) -> int:
    """How deep the JSON text nests arrays and objects (brackets inside strings do not count); a
    linear scan done in C, before any decoder recurses."""
    if b'"' in body:
        body = _STRING.sub(b"", body)
    marks = body.translate(_BRACKETS, _NOT_BRACKETS)
    return max(accumulate(memoryview(marks).cast("b")), default=0)


def check_body(body: bytes, max_depth: int = MAX_DEPTH) -> None:
    """Raises ``BodyRefused`` (422, field ``$``) for a body that is not UTF-8 or nests deeper
    than ``max_depth``: both are checked before any decoder sees it."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            detail = f"$: not UTF-8: byte {body[exc.start]:#04x} at offset {exc.start} ({exc.reason})"
            raise BodyRefused(422, "Invalid event", "not UTF-8", detail) from None
    # Fewer opening brackets than the limit cannot nest deeper than it: most bodies stop here.
    if body.count(b"[") + body.count(b"{") > max_depth and nesting_depth(body) > max_depth:
        raise BodyRefused(422, "Invalid event", f"nested deeper than {max_depth}",
                          f"$: JSON nested deeper than {max_depth} levels")
