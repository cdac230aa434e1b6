"""The drops' photos on the dashboard: what the review page shows beside the 12 steps, and the
route that serves a cached copy.

A copy is served only to a logged-in user of this environment, and only when this environment
has a fetched photo with that content key belonging to one of its reviews (the key is the file's
SHA-256: a page of one environment cannot fetch another's photo by guessing an id). The answer
carries `Cache-Control: private`, `nosniff` and the JPEG type, and never a path or the bridge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from wa_monitor.adapters.media import PhotoCache
from wa_monitor.adapters.postgres import photos
from wa_monitor.adapters.postgres.photos import RetryCause
from wa_monitor.core.steps import Step
from wa_monitor.web.context import Site, current_user, site_of
from wa_monitor.web.desk import Desk

KEY = re.compile(r"^[0-9a-f]{64}$")
KINDS = ("thumb", "screen", "video")
# A photo being retried says why: the bridge, or this machine (then the bridge is fine).
RETRYING = {
    RetryCause.UNREACHABLE: "The bridge is not answering; trying again",
    RetryCause.BRIDGE: "The bridge could not get it from WhatsApp; trying again",
    RetryCause.DECODING: "Received, but it could not be decoded here; trying again",
    RetryCause.HERE: "Received, but this server could not store it; trying again",
}
# Why a photo is not shown, by its state: what the reviewer reads in its place.
MISSING = {
    "pending": "Not fetched yet",
    # Before version 34 a retry recorded no cause: read as the bridge not answering.
    "retrying": RETRYING[RetryCause.UNREACHABLE],
    "expired": "Expired on WhatsApp's servers",
    "mismatch": "Wrong file: the bridge returned another photo (same second); not shown",
    "refused": "Could not be used (not a photo, too large, or not in the media folder)",
}
# (nosniff comes with every answer from web/security.py's headers.)
HEADERS = {"Cache-Control": "private, max-age=86400"}


@dataclass(frozen=True, slots=True)
class Round:
    number: int
    photos: list[dict[str, Any]]


def drop_photos(
    site: Site, desk: Desk, drop_number: str, review_id: UUID | None = None
) -> list[Round]:
    """The drop's photos in posting order, rounds apart (each drop message opens one), each
    with the step `review_id` marks it as showing."""
    rounds: list[Round] = []
    last: str | None = None
    for n, p in enumerate(desk.photos(drop_number, review_id)):
        if not rounds or p.round_message_id != last:
            rounds.append(Round(len(rounds) + 1, []))
            last = p.round_message_id
        shown = p.state == "fetched" and p.content_key is not None
        rounds[-1].photos.append(
            {
                "id": p.id,
                "index": n,
                "video": p.media_type == "video",
                "key": p.content_key if shown else None,
                "missing": None if shown else _missing(p),
                "state": p.state,
                "sent_at": site.local(p.sent_at),
                "taken": p.taken,
                "place": p.place,
                "step": Step(p.step) if p.step else None,
            }
        )
    return rounds


def _missing(p: photos.DropPhoto) -> str:
    """What the photo's placeholder says."""
    if p.state == "retrying" and p.retry_cause is not None:
        return RETRYING[RetryCause(p.retry_cause)]  # the column's CHECK admits no other
    return MISSING.get(p.state, "Not available")


def step_photos(rounds: list[Round]) -> dict[Step, list[dict[str, Any]]]:
    """The photos marked as showing each step, in posting order: what the step's row shows."""
    marked: dict[Step, list[dict[str, Any]]] = {}
    for r in rounds:
        for p in r.photos:
            if p["step"] is not None:
                marked.setdefault(p["step"], []).append(p)
    return marked


def photo_json(rounds: list[Round]) -> list[dict[str, Any]]:
    return [
        {
            "round": r.number,
            "photos": [
                {
                    "id": p["id"],
                    "kind": "video" if p["video"] else "photo",
                    "state": p["state"],
                    "sent_at": p["sent_at"].isoformat() if p["sent_at"] else None,
                    "taken": p["taken"],
                    "place": p["place"],
                    "key": p["key"],
                    "step": None if p["step"] is None else p["step"].number,
                }
                for p in r.photos
            ],
        }
        for r in rounds
    ]


def serve(request: Request) -> Response:  # noqa: PLR0911 - one early answer per refusal
    """One cached copy of a photo (thumb or screen, JPEG) or a video (as it came, its own type)
    of this environment's reviews."""
    site = site_of(request)
    if current_user(site, request) is None:
        return Response("login required\n", status_code=401, headers=HEADERS)
    key, kind = request.path_params["key"], request.path_params["kind"]
    if not KEY.match(key) or kind not in KINDS:
        return _not_found()
    with site.desk() as desk:
        content_type = desk.servable(key)
    if content_type is None or (kind == "video") != content_type.startswith("video/"):
        return _not_found()
    cache = PhotoCache(site.settings.cache_dir, max_bytes=site.settings.photos_cache_max_mb << 20)
    path = cache.path(key, kind)
    if kind == "video":  # streamed, with ranges (a player seeks); never read whole
        if not path.is_file():
            return _not_found()
        cache.touch(key, kind)
        return FileResponse(path, media_type=content_type, headers=HEADERS)
    try:
        data = path.read_bytes()
    except OSError:
        return _not_found()
    cache.touch(key, kind)
    return Response(data, media_type="image/jpeg", headers=HEADERS)


def _not_found() -> Response:
    return Response("no such photo\n", status_code=404, headers=HEADERS)
