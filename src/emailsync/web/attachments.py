"""Handing out an attachment the viewer may see, as the page's and the API's download:
its own module so the API never imports a page module."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from emailsync.mime.extract import AttachmentData
from emailsync.services import inbox
from emailsync.store.raw import raw_files
from emailsync.web import bodies


def attachment_download(
    request: Request, user_id: int, thread_id: int, message_id: int, index: int
) -> Response:
    """An attachment the user may see, read from the raw message: the page's and the
    API's download."""
    data = inbox.attachment(
        request.app.state.engine,
        user_id,
        thread_id,
        message_id,
        index,
        raw_files=raw_files(request.app.state.settings),
    )
    return attachment_response(data)


def attachment_response(data: AttachmentData) -> Response:
    inline = data.content_type in bodies.INLINE_SAFE_TYPES
    quoted = data.filename.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")
    ascii_name = quoted.encode("ascii", "replace").decode()
    kind = "inline" if inline else "attachment"
    disposition = f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(data.filename)}"
    return Response(
        data.data,
        media_type=data.content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": disposition,
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
