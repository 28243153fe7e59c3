"""GET /graphql in a browser on a network that cannot reach GraphiQL's CDN: Accord's own
console appears, runs a query with a demo token against the enforcing gateway and shows the
withheld field's reason. Headless Chromium; screenshots go to tests/artifacts/."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec

from tests.browser import chromium, needs_chromium, shot, wait
from tests.console.fake_cdn import NEEDS_EVAL, WORKING, FakeCDN
from tests.enforcement.world import NOTABLE

PERSON = NOTABLE["no_substance_use"]
# No consent is recorded for PERSON: the key comes back, the diagnoses are withheld.
QUERY = "query($id: ID!) { person(id: $id) { id diagnoses { code } } }"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator:
    # The CDN is unreachable here anyway; this makes it so on any machine.
    with chromium(tmp_path / "profile", "--host-resolver-rules=MAP unpkg.com ~NOTFOUND") as driver:
        yield driver


@contextlib.contextmanager
def browser_with_cdn(profile: Path, graphiql: str) -> Iterator:
    """Chromium whose unpkg.com is a stand-in on 127.0.0.1 serving ``graphiql``."""
    cdn = FakeCDN(graphiql)
    try:
        with chromium(
            profile,
            f"--host-resolver-rules=MAP unpkg.com:443 127.0.0.1:{cdn.port}",
            "--ignore-certificate-errors",
        ) as driver:
            yield driver, cdn
    finally:
        cdn.stop()


def shows(driver, css: str, text: str, timeout: float = 30) -> None:
    try:
        wait(driver, ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), timeout)
    except TimeoutException:
        found = driver.find_element(By.CSS_SELECTOR, css).text
        raise AssertionError(f"{css}: wanted {text!r}, page shows {found!r}") from None


def replace(driver, element_id: str, text: str) -> None:
    """Put ``text`` in a field the way a user would: select all, then type."""
    field = driver.find_element(By.ID, element_id)
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(text)


def unlabelled_controls(driver) -> list[str]:
    return driver.execute_script(
        """return [...document.querySelectorAll('input, select, textarea, button')]
             .filter(e => e.offsetParent !== null)
             .filter(e => e.tagName === 'BUTTON' ? !e.textContent.trim()
                          : !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.id || e.name || e.tagName);"""
    )


def test_the_graphiql_page_allows_only_what_it_needs(audit):
    page = httpx.get(f"{audit.url}/graphql", headers={"accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self' https://unpkg.com"  # no inline or eval'd script
    assert policy["connect-src"] == "'self'"  # queries go to the gateway only
    assert policy["frame-ancestors"] == "'none'"
    assert page.headers["referrer-policy"] == "no-referrer"
    # Every script of the page is a file the CSP admits: none is inline.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all('src="/ui/console/' in attrs and not body for attrs, body in scripts)
    for asset in ("console.js", "graphiql.js", "console.css", ""):
        served = httpx.get(f"{audit.url}/ui/console/{asset}", timeout=10)
        assert served.status_code == 200, asset
    assert "accord-console" in served.text  # the console also stands alone at /ui/console/
    # A client asking for JSON is still answered as GraphQL, not with the page.
    refused = httpx.get(f"{audit.url}/graphql", headers={"accept": "application/json"})
    assert refused.status_code == 400 and refused.json()["errors"]


@needs_chromium
def test_without_the_cdn_the_console_runs_a_query_and_explains_the_withheld_field(
    audit, ledgered, browser
):
    token = audit.token("worker:human_services/COC")
    browser.get(f"{audit.url}/graphql")
    wait(browser, ec.element_to_be_clickable((By.ID, "ac-query")))
    assert browser.find_element(By.ID, "editor").get_attribute("data-editor") == "console"
    assert "GraphiQL could not be loaded" in browser.find_element(By.TAG_NAME, "body").text
    assert unlabelled_controls(browser) == []

    headers = {"Authorization": f"Bearer {token}", "Accord-Purpose": "COC"}
    replace(browser, "ac-headers", json.dumps(headers))
    replace(browser, "ac-variables", json.dumps({"id": PERSON}))
    replace(browser, "ac-query", QUERY.replace("{ id", "{"))
    query = browser.find_element(By.ID, "ac-query")
    # Tab inserts spaces and keeps the focus in the editor.
    query.send_keys(Keys.HOME, Keys.TAB, "id")
    assert browser.switch_to.active_element.get_attribute("id") == "ac-query"
    assert query.get_attribute("value").startswith("  idquery(")  # indent, then the text
    # Esc, then Tab, leaves the editor: keyboard users are never trapped in it.
    query.send_keys(Keys.ESCAPE, Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "ac-variables"
    replace(browser, "ac-query", QUERY)
    before = len(ledgered.entries())
    query = browser.find_element(By.ID, "ac-query")
    query.send_keys(Keys.CONTROL, Keys.ENTER)  # Ctrl+Enter runs

    shows(browser, "#ac-status", "HTTP 200")
    answer = json.loads(browser.find_element(By.ID, "ac-response").text)
    assert answer["data"]["person"] == {"id": PERSON, "diagnoses": None}
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "CONSENT_REQUIRED"
    # The withheld field's code and reason are shown in words, not only in the JSON.
    errors = browser.find_element(By.ID, "ac-errors")
    assert errors.is_displayed()
    shows(browser, "#ac-errors", "person.diagnoses withheld")
    assert "CONSENT_REQUIRED" in errors.text
    assert error["extensions"]["reason"] in errors.text
    assert error["extensions"]["category"] in errors.text
    assert len(ledgered.entries()) > before  # the refusal was recorded by the real gateway
    shot(browser, "console-withheld")

    # The headers are kept for this tab only: sessionStorage, never localStorage.
    kept = browser.execute_script("return sessionStorage.getItem('accord.console.headers')")
    assert json.loads(kept) == headers
    assert browser.execute_script("return localStorage.length") == 0
    browser.refresh()
    wait(browser, ec.element_to_be_clickable((By.ID, "ac-headers")))
    assert json.loads(browser.find_element(By.ID, "ac-headers").get_attribute("value")) == headers

    # Bad JSON is refused in the page with a clear message; nothing reaches the gateway.
    after = len(ledgered.entries())
    replace(browser, "ac-variables", '{"id": ')
    browser.find_element(By.ID, "ac-run").click()
    shows(browser, "#ac-status", "Nothing was sent")
    assert browser.find_element(By.ID, "ac-variables").get_attribute("aria-invalid") == "true"
    assert "not valid JSON" in browser.find_element(By.ID, "ac-variables-error").text
    assert len(ledgered.entries()) == after


@needs_chromium
def test_the_console_fits_a_phone(audit, browser):
    browser.set_window_size(390, 844)
    browser.get(f"{audit.url}/graphql?console")
    wait(browser, ec.element_to_be_clickable((By.ID, "ac-run")))
    assert "GraphiQL could not be loaded" not in browser.find_element(By.TAG_NAME, "body").text
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    spills = browser.execute_script(
        """return [...document.querySelectorAll('.ac-inputs textarea, .ac-inputs button')]
             .filter(e => e.getBoundingClientRect().right
                          > e.closest('.ac-inputs').getBoundingClientRect().right)
             .map(e => e.id);"""
    )
    assert spills == []  # every field stays inside its card
    run = browser.find_element(By.ID, "ac-run").rect
    assert run["height"] >= 44  # a comfortable touch target
    shot(browser, "console-phone")


@needs_chromium
def test_graphiql_is_used_when_the_cdn_answers(audit, tmp_path):
    with browser_with_cdn(tmp_path / "profile", WORKING) as (driver, cdn):
        driver.get(f"{audit.url}/graphql")
        shows(driver, "#editor", "stand-in GraphiQL")
        assert driver.find_element(By.ID, "editor").get_attribute("data-editor") == "graphiql"
        assert "/graphiql@3/graphiql.min.js" in cdn.requested  # the CSP let the CDN through
        assert driver.find_elements(By.ID, "ac-query") == []


@needs_chromium
def test_a_graphiql_that_needs_eval_is_refused_and_replaced_by_the_console(audit, tmp_path):
    with browser_with_cdn(tmp_path / "profile", NEEDS_EVAL) as (driver, cdn):
        driver.get(f"{audit.url}/graphql")
        wait(driver, ec.element_to_be_clickable((By.ID, "ac-query")))
        notice = driver.find_element(By.TAG_NAME, "body").text
        assert "security policy refused" in notice and "eval" in notice, notice
        assert "should not appear" not in notice
