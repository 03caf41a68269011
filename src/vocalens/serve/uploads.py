"""Uploads: a multipart body streamed to disk in chunks (never held whole in memory), size-capped
while it arrives, then probed (container, streams, duration) before any decoding.

The client's file name is kept for display only; the file is written under a fixed name in the
job's random folder, so nothing in the request ever becomes a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from vocalens.errors import MediaError, UserError

FIELD = "file"
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TooLarge(UserError):
    """The upload is over the size limit (HTTP 413)."""


class BadUpload(UserError):
    """The request is not a multipart upload with a file part (HTTP 400/422)."""


def display_name(raw: str | None) -> str:
    """The last component of what the client called the file, without control characters: for
    showing and for the result's ``source``, never for a path."""
    name = _CONTROL.sub("", (raw or "").replace("\\", "/")).split("/")[-1].strip()
    return name[:200] if name not in ("", ".", "..") else "upload"


def stored_name(name: str) -> str:
    """``input`` plus the name's suffix when it is a plain one (``.mp4``), a hint for the demuxer."""
    suffix = Path(name).suffix
    return "input" + (suffix.lower() if _SUFFIX.fullmatch(suffix) else "")


@dataclass
class Upload:
    name: str  # display name
    path: Path
    size: int


async def receive(chunks: AsyncIterator[bytes], content_type: str, folder: Path, max_bytes: int) -> Upload:
    """Stream the ``file`` part of a multipart body into ``folder``; other parts are ignored."""
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BadUpload("send the video as multipart/form-data with a part named 'file'")
    state = {"headers": {}, "field": b"", "value": b"", "target": False, "done": False}
    out: dict = {"fh": None, "name": None, "size": 0, "path": None}

    def on_part_begin() -> None:
        state["headers"], state["target"] = {}, False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        disp, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if disp == b"form-data" and opts.get(b"name") == FIELD.encode() and out["fh"] is None and not state["done"]:
            raw = opts.get(b"filename", b"").decode("utf-8", "replace")
            out["name"] = display_name(raw)
            out["path"] = folder / stored_name(out["name"])
            out["fh"] = open(out["path"], "wb")
            state["target"] = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["target"]:
            out["size"] += end - start
            if out["size"] > max_bytes:
                raise TooLarge(f"{out['name']}: larger than the server's limit of {max_bytes / 2**20:.0f} MB")
            out["fh"].write(data[start:end])

    def on_part_end() -> None:
        if state["target"]:
            state["target"], state["done"] = False, True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in chunks:
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except UserError:
        raise
    except Exception as e:  # the multipart parser's own errors: a malformed body
        raise BadUpload(f"malformed multipart body ({type(e).__name__}: {e})") from None
    finally:
        if out["fh"] is not None:
            out["fh"].close()
    if not state["done"]:
        raise BadUpload(f"no complete part named '{FIELD}' in the upload")
    return Upload(out["name"], out["path"], out["size"])


def probe(path: Path, name: str) -> float | None:
    """Open the container and read its streams without decoding any frame: the duration in seconds
    (None when the container does not say and its packets carry no timestamps). Raises MediaError
    naming ``name`` for a file that is not a video."""
    import av

    if path.stat().st_size == 0:
        raise MediaError(f"{name}: empty file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise MediaError(f"{name}: cannot open as a video ({type(e).__name__})") from None
    with container:
        video = next((s for s in container.streams if s.type == "video"), None)
        if video is None:
            raise MediaError(f"{name}: no video stream")
        if container.duration:
            return container.duration / 1e6
        if video.duration and video.time_base:
            return float(video.duration * video.time_base)
        last = None
        try:
            for packet in container.demux(video):  # packets only: timestamps without decoding
                if packet.pts is not None and packet.time_base:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    last = end if last is None else max(last, end)
        except av.error.FFmpegError:
            pass
        return last
