"""Small pictures of indexed files for the web page: 256 px card thumbnails and 1280 px previews.

A card that loads the original of a 12-megapixel photo costs megabytes; its thumbnail costs a few kilobytes.
Indexing keeps them (:mod:`mmir.indexing.thumbnails`; :func:`stored_response` serves those). Files not done yet
(indexed before, or with ``thumbnails=False``) get theirs made here on demand from the indexed file (decoded by
:mod:`mmir.media`, JPEGs in draft mode at the size needed), kept under the collection directory, named by the
file's SHA-1, size and modification time: a file changed and indexed again gets a new name, so a stale picture
is never served. The caller checks that the file is still the one indexed (served only by catalog id, as the
media route does).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from mmir.media import CorruptMediaError, ImageLimits, decode_image, load_image
from mmir.media.files import write_atomic
from mmir.media.video import DecodeOptions, VideoReader
from mmir.types import MediaKind, MediaRef, ThumbSize

CACHE_FOLDER = "thumbnails"
WEBP_QUALITY = 78  # visually clean at these sizes; a 256 px card is ~8-15 KB


@dataclass(frozen=True)
class Thumbnail:
    """A cached picture ready to serve.

    Attributes:
        path: The WebP file in the cache.
        etag: A strong validator (changes whenever the source file or the size does).
        data: The picture's bytes when the cache could not be written (a read-only collection): served from memory.
    """

    path: Path
    etag: str
    media_type: str = "image/webp"
    data: bytes | None = None


class ThumbnailCache:
    """Makes and keeps thumbnails under ``directory`` (created on first use).

    Args:
        directory: Where the cached files live (``<collection>/thumbnails``).
        slots: How many thumbnails may be made at once (each decodes a picture); default half the cores.
        limits: Size limits for decoding source photos.
        max_bytes: The cache's size bound: past it, the oldest thumbnails go (checked every ``prune_every`` writes;
            thumbnails of changed or deleted files are never asked for again and age out this way).
        prune_every: Writes between two checks of the bound.
    """

    def __init__(
        self, directory: Path, slots: int | None = None, limits: ImageLimits = ImageLimits(),
        max_bytes: int = 2 * 2**30, prune_every: int = 256,
    ) -> None:  # fmt: skip
        self.directory = directory
        self.limits = limits
        self.max_bytes = max_bytes
        self.prune_every = max(1, prune_every)
        self._writes = 0
        # Half the cores by default: searches keep the other half while a page of new thumbnails is made.
        self._slots = threading.BoundedSemaphore(max(1, slots if slots is not None else (os.cpu_count() or 2) // 2))

    def key(self, ref: MediaRef, size: ThumbSize, at_s: float | None) -> str:
        """The cache name: the file's identity (sha1, size, mtime), the picture size and, for a video, the time."""
        at = "" if at_s is None else f"@{round(at_s * 1000)}"
        identity = f"{ref.sha1}|{ref.size}|{ref.mtime!r}|{int(size)}{at}"
        return hashlib.sha1(identity.encode()).hexdigest()

    def get(
        self, ref: MediaRef, size: ThumbSize, at_s: float | None = None, keyframe: bytes | None = None
    ) -> Thumbnail:
        """The thumbnail of ``ref`` at ``size`` (a video's frame at ``at_s`` seconds), made if not cached.

        ``keyframe`` is the shot's keyframe picture stored at indexing (JPEG bytes): when given, the video is not
        decoded again (its frame at ``at_s`` would need decoding from the start).

        Raises:
            MediaError: the file cannot be read or decoded (the message names it).
        """
        key = self.key(ref, size, at_s)
        path = self.directory / key[:2] / f"{key}.webp"
        if not path.is_file():
            with self._slots:
                if not path.is_file():  # another request may have made it while this one waited
                    data = _webp(self._picture(ref, size, at_s, keyframe))
                    try:
                        write_atomic(path, data)
                    except OSError:  # no room or a read-only collection: still answer, just without keeping it
                        return Thumbnail(path, f'"{key}"', data=data)
                    self._writes += 1
                    if self._writes % self.prune_every == 0:
                        self.prune(keep=path)
        return Thumbnail(path, f'"{key}"')

    def prune(self, keep: Path | None = None) -> None:
        """Delete the oldest cached thumbnails until the cache holds at most ``max_bytes`` (never ``keep``)."""
        entries = []
        for path in self.directory.glob("*/*.webp"):
            try:
                stat = path.stat()
            except OSError:  # deleted meanwhile
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _mtime, size, _path in entries)
        for _mtime, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size

    def _picture(self, ref: MediaRef, size: ThumbSize, at_s: float | None, keyframe: bytes | None) -> Image.Image:
        if keyframe is not None:
            image = decode_image(keyframe, ref.path, limits=self.limits)
        elif ref.kind is MediaKind.VIDEO:
            image = video_frame(ref.path, at_s or 0.0, min(int(size), 720))  # no upscaled previews
        else:
            # Draft-mode JPEG decoding at a shorter side >= size keeps the longest side >= size too.
            image = load_image(ref.path, limits=self.limits, min_side=int(size))
        image.thumbnail((int(size), int(size)), Image.Resampling.LANCZOS)
        return image


def stored_response(request: Request, path: Path) -> Response | None:
    """The picture kept at indexing (or the original serving as its own preview), ETag-validated.

    ``None`` when it vanished meanwhile (pruned by an indexing run): the caller makes one on demand.
    """
    try:
        stat = path.stat()
    except OSError:
        return None
    # The name holds the content's SHA-1; size and mtime catch an original rewritten in place.
    etag = '"' + hashlib.sha1(f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest() + '"'
    # no-cache: the browser asks again each time (a 304 when unchanged), so a file deleted since shows as such
    headers = {"Cache-Control": "private, no-cache", "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, headers=headers)


def _webp(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=WEBP_QUALITY)
    return buffer.getvalue()


def video_frame(path: str, at_s: float, side: int) -> Image.Image:
    """The first frame at or after ``at_s`` seconds (the last one if the video ends first), upright RGB.

    Decodes from the start at a low sampling rate (videos in a collection are short clips or are cut into
    shots whose keyframes are what a card shows); the frame's shorter side is ``side`` pixels.

    Raises:
        MediaError: the video cannot be opened or decoded.
    """
    options = DecodeOptions(analysis_fps=4.0, image_fps=4.0, image_side=side, threads=1)
    chosen = None
    with VideoReader(path, options) as reader:
        for frame in reader.frames():
            if frame.image is not None:
                chosen = frame.image
                if frame.time_s + 0.13 >= at_s:
                    break
    if chosen is None:  # frames() raises when nothing decodes; an image frame is always sampled first
        raise CorruptMediaError(path, "no frame decoded")
    return Image.fromarray(chosen)
