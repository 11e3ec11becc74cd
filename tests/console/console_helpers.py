"""Helpers for the console tests (imported by conftest and the tests)."""

from __future__ import annotations

import re

PASSWORD = "rahasia-sekali-123"
ACCESS_TOKEN = "console-test-token"
CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's meta tag."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    """Log in through the form (with the page's CSRF token)."""
    page = client.get("/masuk")
    token = csrf_of(page.get_data(as_text=True))
    return client.post(
        "/masuk",
        data={"username": username, "password": password, "csrf_token": token},
    )


def logged_in(app, username: str):
    """A test client logged in as ``username``, with its CSRF token."""
    client = app.test_client()
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    token = csrf_of(client.get("/masuk", follow_redirects=True).get_data(as_text=True))
    client.csrf = token  # type: ignore[attr-defined]
    return client
