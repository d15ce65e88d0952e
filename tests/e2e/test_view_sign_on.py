"""The incident view with single sign-on, in a real browser against a real OpenID
provider (node-oidc-provider): the provider's sign-in form leads to the incident list,
a split from the page carries the CSRF token and is recorded as the signed-in user,
and the header's Sign out ends the session here and at the provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from aiops.store.tables import feedback
from tests.integration.test_feedback_api import incident_of
from tests.integration.test_oidc_sign_in import Signed, engine_with_sign_on

pytestmark = pytest.mark.browser


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Signed]:
    with engine_with_sign_on(tmp_path) as served:
        yield served


def test_sign_in_split_and_sign_out_in_a_browser(page: Page, signed: Signed) -> None:
    page.goto(f"{signed.url}/")
    page.locator("input[name='login']").fill("ann")  # the provider's form
    page.locator("input[name='password']").fill("any password")
    page.locator("button[type='submit']").click()
    expect(page.locator("#open-incidents tbody tr.incident-row")).to_have_count(2)
    expect(page.locator("#signed-in-user")).to_have_text("ann")

    a = incident_of(signed.runtime, "a1")
    page.goto(f"{signed.url}/incidents/{a}")
    expect(page.locator("#feedback-author")).to_have_count(0)  # no name box: the user's
    page.locator("input.split-alert[value='a3']").check()
    page.locator("#split-button").click()
    expect(page.locator("#alerts tbody tr.alert-row")).to_have_count(2)
    with signed.runtime.db.connect() as conn:
        assert conn.execute(sa.select(feedback.c.author)).scalars().all() == ["ann"]

    page.locator("#sign-out").click()
    page.get_by_role("button", name="Yes, sign me out").click()  # the provider asks
    expect(page.locator("h1")).to_have_text("Signed out")
    assert page.url == f"{signed.url}/auth/signed-out"
    page.goto(f"{signed.url}/")
    expect(page.locator("input[name='login']")).to_be_visible()  # signed out at both
