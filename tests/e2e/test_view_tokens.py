"""The incident view behind access tokens, in a real browser: the browser's HTTP Basic
credentials (the token as the password) carry the page and its own API calls, and a
token without the scope `operate` is told so on the page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from aiops.api.access import token_line
from tests.conftest import LiveServer, serving_with_tokens
from tests.e2e.test_feedback_view import two_incidents

pytestmark = pytest.mark.browser

OPERATOR, VIEWER = "operator-token-0123456789", "viewer-token-0123456789"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[LiveServer]:
    tokens = tmp_path / "tokens"
    tokens.write_text(token_line("ann", ["read", "operate"], OPERATOR) + "\n"
                      + token_line("wall", ["read"], VIEWER) + "\n", encoding="utf-8")
    with serving_with_tokens(tmp_path / "data", tokens) as served:
        yield served


@contextmanager
def split_a3_as(browser: Browser, server: LiveServer, user: str,
                token: str) -> Iterator[Page]:
    """A page of the first incident, opened with the token as the browser's HTTP Basic
    password, after ticking a3 and clicking Split."""
    a, _ = two_incidents(server)
    context = browser.new_context(http_credentials={"username": user, "password": token})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/incidents/{a}")
        page.locator("input.split-alert[value='a3']").check()
        page.locator("#split-button").click()
        yield page
    finally:
        context.close()


def test_the_view_and_its_actions_work_with_the_browsers_credentials(
        browser: Browser, guarded: LiveServer) -> None:
    with split_a3_as(browser, guarded, "ann", OPERATOR) as page:
        expect(page.locator("#alerts tbody tr.alert-row")).to_have_count(2)


def test_a_read_only_token_is_told_on_the_page_what_it_lacks(
        browser: Browser, guarded: LiveServer) -> None:
    with split_a3_as(browser, guarded, "wall", VIEWER) as page:
        expect(page.locator("#feedback-message")).to_contain_text(
            "token 'wall' may read; this request needs the scope 'operate'")
        expect(page.locator("#alerts tbody tr.alert-row")).to_have_count(3)
