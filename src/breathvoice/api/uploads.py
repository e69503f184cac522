"""Reading an uploaded file whole, refusing it as soon as it passes its size cap."""

from __future__ import annotations

from fastapi import UploadFile

from breathvoice.errors import PayloadTooLarge

_READ_BLOCK = 1024 * 1024


async def read_upload(file: UploadFile, cap: int) -> bytes:
    """The content of ``file``; PayloadTooLarge once it passes ``cap`` bytes."""
    parts: list[bytes] = []
    size = 0
    while block := await file.read(_READ_BLOCK):
        size += len(block)
        if size > cap:
            raise PayloadTooLarge(f"upload is larger than {cap} bytes")
        parts.append(block)
    return b"".join(parts)
