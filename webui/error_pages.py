"""Error pages in the app's layout (403, 404, 409...), each saying what happened and offering a way back.

The API keeps answering problems (`webui.api.problems`); this is for the pages only.
"""

from __future__ import annotations

from flask import Response, render_template, request
from werkzeug.exceptions import HTTPException

TITLES = {
    400: "That request could not be read",
    403: "You may not do that",
    404: "Not found",
    405: "Not allowed here",
    409: "Someone got there first",
    412: "It changed meanwhile",
    413: "Too large",
    422: "Some values need fixing",
    500: "Something went wrong",
}


def error_page(error: HTTPException, message: str | None = None) -> Response | HTTPException:
    """`error` as a page in the layout, with its description (or `message`) and links back.

    Falls back to Flask's plain page when the layout itself cannot be drawn (e.g. the database
    is what failed), so an error never hides behind another one.
    """
    status = error.code or 500
    back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else None
    try:
        html = render_template(
            "error.html",
            status=status,
            title=TITLES.get(status, error.name),
            message=message or error.description,
            back=back,
        )
    except Exception:
        return error
    return Response(html, status=status, mimetype="text/html")
