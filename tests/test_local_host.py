"""The local server answers only to its own names: a page on another host name that resolves to
127.0.0.1 (DNS rebinding) gets no demo page and, above all, no session URL for the
always-signed-in demo user. Over real HTTP, against local/server.py with the Stripe stand-in."""

from __future__ import annotations

import http.client
import io
from collections.abc import Iterator

import pytest

from local.server import DevServer

ROUTE = "/billing/portal"


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("STRIPE_API_KEY", raising=False)  # the stand-in, whatever the shell has
        with DevServer(port=0, out=io.StringIO()) as running:
            yield running


def get(server: DevServer, path: str, host: str | None) -> tuple[int, bytes]:
    """GET `path` with exactly this Host header (none when None), as a browser would send it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.putheader("Accept", "application/json")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def sessions(server: DevServer) -> int:
    assert server.stripe is not None
    return len(server.stripe.sessions)


@pytest.mark.parametrize(
    "host",
    [
        "rebind.attacker.example:{port}",  # the rebinding page's own name, as its browser sends it
        "rebind.attacker.example",
        "localhost.attacker.example:{port}",
        "127.0.0.1.nip.io:{port}",
        "localhost:1",  # another port: another origin
        "localhost",  # no port: port 80's origin
        "",
        None,
    ],
)
@pytest.mark.parametrize("path", [ROUTE, "/"])
def test_any_other_host_is_refused_before_anything_is_done(
    server: DevServer, host: str | None, path: str
) -> None:
    before = sessions(server)

    status, body = get(server, path, None if host is None else host.format(port=server.port))

    assert status == 403
    assert b"/p/session/" not in body
    assert sessions(server) == before


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "LOCALHOST:{port}"])
def test_its_own_names_get_the_portal(server: DevServer, host: str) -> None:
    before = sessions(server)

    status, body = get(server, ROUTE, host.format(port=server.port))

    assert status == 200
    assert b'"url"' in body
    assert sessions(server) == before + 1
