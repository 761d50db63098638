"""Strict origin checks for URLs we redirect people to (return_url and friends).

A return URL is the one thing a caller chooses that ends up in a browser's address bar, so it is
parsed the way a browser would and rejected on anything a browser might read differently.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
# Dots that browsers treat like "." in a host name (IDNA mapping): "app。example.com".
UNICODE_DOTS = {"\u3002", "\uff0e", "\uff61"}


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in url):
        raise ValueError("must not contain whitespace or control characters")
    if "\\" in url:
        raise ValueError("must not contain a backslash")
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not url.lower().startswith(parts.scheme + "://"):
        raise ValueError("must be an absolute https URL")
    if not parts.netloc:
        raise ValueError("must have a host")
    if "@" in parts.netloc:
        raise ValueError("must not contain user information")
    return parts


def _ascii_host(host: str) -> str:
    if "%" in host:
        raise ValueError("host must not be percent-encoded")
    if any(dot in host for dot in UNICODE_DOTS):
        raise ValueError("host must use ASCII dots")
    if host.isascii():
        return host.lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError("host is not a valid international domain name") from exc


def origin_of(url: str) -> str:
    """The origin ("scheme://host[:port]") a browser would give this URL, or ValueError."""
    parts = _split(url)
    host = parts.hostname
    if not host:
        raise ValueError("must have a host")
    host = _ascii_host(host)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


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
    """Return url unchanged when its origin is exactly one of allowed_origins, else ValueError."""
    if origin_of(url) not in allowed_origins:
        raise ValueError("origin is not one of ALLOWED_ORIGINS")
    return url
