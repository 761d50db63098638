"""Strict origin checks for URLs we redirect people to (return_url and friends).

A return URL is the one thing a caller chooses that ends up in a browser's address bar, so it is
parsed strictly and rejected on anything a browser might read differently from Python's
urlsplit. The authority must be a plain ASCII host and an optional port: browsers put the xn--
form of an international host in `location.href`, and Python's IDNA 2003 codec maps some
characters (ß -> ss) differently from browsers, so comparing a decoded Unicode host could
approve a URL that a browser sends elsewhere.

Host case is not significant (`APP.example.com` is the same origin). A trailing dot is:
`app.example.com.` is a different origin to a browser (its own cookies, storage and CORS), so it
is rejected rather than folded into `app.example.com`.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
# host: letters, digits, dots and hyphens, or a bracketed IPv6 literal; then an optional port.
AUTHORITY = re.compile(r"(?P<host>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{0,5}))?", re.I)
# An encoded / or \ in the path turns into a real one in apps that decode before routing.
ENCODED_SLASH = re.compile(r"%(2f|5c)", re.I)
# A "." or ".." segment, also as %2e: a browser resolves /a/..//evil.example to //evil.example.
DOT_SEGMENT = re.compile(r"(\.|%2e){1,2}", re.I)


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in url):
        raise ValueError("must not contain whitespace or control characters")
    if not is_text(url):
        raise ValueError("must be valid text (UTF-8)")
    if "\\" in url:
        raise ValueError("must not contain a backslash")
    try:
        parts = urlsplit(url)
    except ValueError:  # bad IPv6 brackets, characters that NFKC-normalise to / ? # @ :
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in DEFAULT_PORTS or not url.lower().startswith(parts.scheme + "://"):
        raise ValueError("must be an absolute https URL")
    if not parts.netloc:
        raise ValueError("must have a host")
    if "@" in parts.netloc:
        raise ValueError("must not contain user information")
    if "%" in parts.netloc:
        raise ValueError("host must not be percent-encoded")
    if not parts.netloc.isascii():
        raise ValueError("host must be ASCII (send an international name in its xn-- form)")
    if parts.path.startswith("//") or ENCODED_SLASH.search(parts.path):
        raise ValueError("path must not start with // or contain encoded slashes")
    if any(DOT_SEGMENT.fullmatch(segment) for segment in parts.path.split("/")):
        raise ValueError("path must not contain . or .. segments")
    return parts


def origin_of(url: str) -> str:
    """The origin ("scheme://host[:port]") a browser would give this URL, or ValueError."""
    parts = _split(url)
    match = AUTHORITY.fullmatch(parts.netloc)
    if match is None:
        raise ValueError("host must be a plain host name with an optional port")
    host, port = match["host"].lower(), match["port"]
    if host.endswith("."):
        raise ValueError("host must not end with a dot (a different origin to a browser)")
    number = int(port) if port else DEFAULT_PORTS[parts.scheme]  # "host:" is the default port
    if not 0 < number < 65536:
        raise ValueError("has an invalid port")
    if number == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{number}"


def parse_origin(value: str) -> str:
    """Normalise one configured origin; only localhost may use plain http."""
    value = value.strip()
    parts = _split(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not a bare origin (scheme://host[:port])")
    origin = origin_of(value)
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"{value!r} must use https (http is only for localhost)")
    return origin


def check_redirect_url(url: str, allowed_origins: frozenset[str]) -> str:
    """Return url unchanged when its origin is exactly one of allowed_origins, else ValueError
    naming that origin (already checked to be a plain scheme://host[:port])."""
    origin = origin_of(url)
    if origin not in allowed_origins:
        raise ValueError(not_allowed(origin, allowed_origins))
    return url


def not_allowed(origin: str, allowed_origins: frozenset[str]) -> str:
    """ "origin 'x' is not one of ALLOWED_ORIGINS", and the localhost/127.0.0.1 mix-up when the
    other loopback name is the one allowed (they are different origins to a browser)."""
    message = f"origin {origin!r} is not one of ALLOWED_ORIGINS"
    for this, other in (("localhost", "127.0.0.1"), ("127.0.0.1", "localhost")):
        twin = origin.replace(f"://{this}", f"://{other}", 1)
        if twin != origin and twin in allowed_origins:
            return f"{message} ({twin} is: {this} and {other} are different origins)"
    return message


def is_text(value: str) -> bool:
    """False for a lone surrogate (JSON's "\\ud800"), which no request to Stripe can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
