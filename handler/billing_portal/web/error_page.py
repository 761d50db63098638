"""The page a browser gets for a problem when it navigated here (a form or a link) and no
ERROR_REDIRECT_URL is set: what happened, what to do, a way back. Raw problem+json in the
address bar tells a customer nothing.

No script at all (the Content-Security-Policy allows none), one inline style (allowed by its
hash), every caller-influenced text escaped; the problem's detail is the same text the JSON
answer carries, so nothing secret can appear here that could not appear there.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from urllib.parse import urlsplit

from billing_portal.errors import Problem

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#1a1a1a}h1{font-size:1.4rem}.todo{font-size:1.1rem}"
    "a.back{display:inline-block;margin:.5rem 0;padding:.4rem 1rem;border:1px solid #635bff;"
    "border-radius:4px;color:#635bff;text-decoration:none}"
    ".ref{color:#666;font-size:.85rem}code{font-size:.85rem}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# Nothing may run, load or be framed; the one style block is allowed by its hash.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# What the person in front of the browser can do about each problem.
WHAT_TO_DO = {
    "invalid-parameter": "The page that sent you here asked for something billing cannot do. "
    "Go back and try again; if it happens again, contact support with the reference below.",
    "unauthenticated": "You are not signed in, or your session has expired: sign in again, "
    "then open billing again.",
    "forbidden-origin": "Billing can only be opened from the app itself: go back to it and "
    "open billing from there.",
    "forbidden-role": "Only your organisation's billing admins can open billing: ask one of them.",
    "no-billing-account": "There is no billing account for you yet. If you expected one, contact "
    "support with the reference below.",
    "no-such-subscription": "That subscription no longer exists: go back and reload the page.",
    "flow-unavailable": "That change is not available for your subscription right now: go back "
    "and open billing without it.",
    "upstream-unavailable": "Billing is busy right now: please try again in a moment.",
}
ON_OUR_SIDE = (
    "Billing cannot open right now because of a problem on our side. It has been logged; please "
    "try again later, or contact support with the reference below."
)


def render(problem: Problem, *, request_id: str, back_url: str | None) -> str:
    """The page's HTML. `back_url` is a return URL already checked against ALLOWED_ORIGINS."""
    todo = WHAT_TO_DO.get(problem.slug)
    if todo is None:
        todo = ON_OUR_SIDE if problem.status >= 500 else WHAT_TO_DO["invalid-parameter"]
    retry = problem.headers.get("Retry-After", "")
    if problem.slug == "upstream-unavailable" and retry.isdigit() and int(retry) > 5:
        todo = f"Billing is busy right now: please try again in {int(retry)} seconds."
    errors = "".join(
        f"<li><code>{escape(e['parameter'])}</code>: {escape(e['detail'])}</li>"
        for e in problem.errors or []
    )
    back = ""
    if back_url:
        host = urlsplit(back_url).netloc
        back = f'<p><a class="back" href="{escape(back_url)}">Back to {escape(host)}</a></p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Billing: {escape(problem.title)}</title><style>{STYLE}</style></head><body>"
        f'<main data-problem-type="{escape(problem.type)}">'
        f"<h1>Billing could not open: {escape(problem.title.lower())}</h1>"
        f'<p class="todo">{escape(todo)}</p>'
        f"<p>{escape(problem.detail)}</p>"
        + (f"<ul>{errors}</ul>" if errors else "")
        + back
        + f'<p class="ref">Reference: <code>{escape(problem.slug)}</code>, '
        f"status {problem.status}, request <code>{escape(request_id)}</code></p>"
        "</main></body></html>"
    )
