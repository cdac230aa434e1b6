"""A reviewer marks which of the 12 steps a photo of the drop shows: the step's row on the review
page then shows that photo. Saved at once (one photo, one mark, per review), apart from the
verdict form, so a mark never waits for a save and a save never loses a mark; the verdict's
saves and the agent's resubmissions keep the marks.

From the page's script (the x-csrf-token header) the answer is JSON, the page staying as it is
with whatever the reviewer has ticked and typed; from a plain form (no script) it is the review
page again, at the photo.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from wa_monitor.core.steps import Step
from wa_monitor.web.context import Site
from wa_monitor.web.reviewing import PostRefused, ReviewerPost, reviewer_post
from wa_monitor.web.security import CSRF_HEADER


@reviewer_post
def mark_step(site: Site, request: Request, post: ReviewerPost) -> Response:
    """Record (or clear, with an empty `step`) the step a photo of the review's drop shows."""
    raw = post.form.get("step")
    if raw in (None, ""):
        step = None
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and 1 <= int(raw) <= len(Step):
        step = Step(int(raw))
    else:
        raise PostRefused(400, "Choose one of the 12 steps for the photo (or none).")
    photo_id = request.path_params["photo"]
    with site.desk() as desk:
        review = desk.review(post.review_id)
        if review is None:
            raise HTTPException(404, "There is no such review in this environment.")
        if photo_id not in {p.id for p in desk.photos(review.drop_number, review.id)}:
            raise HTTPException(404, "This review's drop has no such photo.")
        number = None if step is None else step.number
        desk.mark_photo_step(review.id, photo_id, number, by=post.user.username)
    if CSRF_HEADER in request.headers:
        return JSONResponse(
            {"photo": photo_id, "step": None if step is None else step.number}, status_code=200
        )
    return _to_the_photo(request)


def back_to_the_review(request: Request) -> Response:
    """A GET of the mark's address (a login that came back to it): the review page, at the
    photo."""
    return _to_the_photo(request)


def _to_the_photo(request: Request) -> Response:
    page = request.url.path.rsplit("/", 3)[0]
    return RedirectResponse(f"{page}#photo-{request.path_params['photo']}", status_code=303)
