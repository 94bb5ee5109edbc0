"""A ZIP archive written as a stream of byte chunks (for HTTP responses), never held whole in memory.

:mod:`zipfile` writes to unseekable outputs by putting each member's sizes after its data, so the
archive can go out member by member as it is made.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Member:
    """One file of the archive: its name inside it, its bytes, and whether to deflate them."""

    name: str
    data: bytes
    compress: bool = True


class _Chunks(io.RawIOBase):
    """An unseekable output that keeps what is written until :meth:`take`."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # bytes-like
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_chunks(members: Iterable[Member]) -> Iterator[bytes]:
    """The bytes of a ZIP of ``members``, one chunk per member (then the central directory).
    ``members`` is consumed lazily, so it may read files one by one."""
    out = _Chunks()
    with zipfile.ZipFile(out, "w") as archive:
        for member in members:
            method = zipfile.ZIP_DEFLATED if member.compress else zipfile.ZIP_STORED
            archive.writestr(member.name, member.data, compress_type=method)
            yield out.take()
    yield out.take()
