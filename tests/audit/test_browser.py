"""The web interface in headless Chromium: sign in with demo tokens, watch a disclosure appear,
withdraw a consent and see the next query withheld, review an emergency access, and verify a
receipt in the browser. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec

from ledger import keys
from tests.browser import chromium, needs_chromium, shot, wait
from tests.enforcement.world import NOTABLE

PERSON = NOTABLE["no_substance_use"]
PROFILE = "query($id: ID!) { person(id: $id) { givenName diagnoses { code } } }"

pytestmark = needs_chromium


@pytest.fixture
def browser(tmp_path: Path) -> Iterator:
    with chromium(tmp_path / "chromium-profile", height=1800) as driver:
        yield driver


def visible_text(driver, css: str, text: str, timeout: float = 20) -> None:
    try:
        wait(driver, ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), timeout)
    except TimeoutException:
        found = driver.find_element(By.CSS_SELECTOR, css).text
        status = driver.find_element(By.ID, "status").text
        raise AssertionError(f"{css}: wanted {text!r}, page shows {found!r} ({status!r})") from None


def sign_in(driver, url: str, token: str) -> None:
    # A fresh sign-in, not the saved one. Clear the session on a page of the same origin that
    # runs no script: on /ui/ itself, a sign-in still in flight would store its token again.
    driver.get(f"{url}/healthz")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{url}/ui/")
    box = wait(driver, ec.element_to_be_clickable((By.ID, "token")))
    box.clear()
    box.send_keys(token)
    # Keyboard only: tab from the token box to the button and press Enter.
    box.send_keys(Keys.TAB)
    active = driver.switch_to.active_element
    assert active.get_attribute("id") == "signin"
    active.send_keys(Keys.ENTER)
    visible_text(driver, "#who", "Signed in as")


def every_control_is_labelled(driver) -> list[str]:
    return driver.execute_script(
        """return [...document.querySelectorAll('input, select, textarea')]
             .filter(e => e.offsetParent !== null || e.type === 'checkbox')
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.id || e.name);"""
    )


def test_citizen_sees_a_disclosure_revokes_and_the_next_query_is_withheld(audit, ledgered, browser):
    ledgered.grant(PERSON, ("human_services",))
    worker = audit.gateway
    citizen = audit.idp.citizen_token(PERSON)
    sign_in(browser, audit.url, citizen)
    visible_text(browser, "#timeline", "No agency has received")
    assert every_control_is_labelled(browser) == []

    answer = worker.query(PROFILE, variables={"id": PERSON})
    assert answer["data"]["person"]["diagnoses"]
    receipt = answer["extensions"]["accord"]["entries"]

    browser.refresh()  # the session keeps the token
    visible_text(browser, "#timeline", "received")
    items = browser.find_elements(By.CSS_SELECTOR, "#timeline li[data-index]")
    shown = {int(i.get_attribute("data-index")) for i in items}
    assert shown and shown <= set(receipt)
    assert "from Health" in browser.find_element(By.ID, "timeline").text
    assert "coordination of care" in browser.find_element(By.ID, "timeline").text
    shot(browser, "citizen-timeline")

    # Verify the first receipt in the browser: signature and inclusion.
    items[0].find_element(By.CSS_SELECTOR, "button").click()
    visible_text(browser, "#verify-result", "whose signature by the log key checks out")

    # Withdraw the consent.
    revoke = wait(browser, ec.element_to_be_clickable((By.CSS_SELECTOR, "#consents button.danger")))
    revoke.click()
    wait(browser, ec.alert_is_present()).accept()
    visible_text(browser, "#status", "withdrawn")
    visible_text(browser, "#consents", "revoked")
    shot(browser, "citizen-consent-revoked")

    withheld = worker.query(PROFILE, variables={"id": PERSON})
    codes = {e["extensions"]["code"] for e in withheld.get("errors", [])}
    assert codes == {"CONSENT_REQUIRED"}
    browser.refresh()
    visible_text(browser, "#refused", "was refused")

    # Give a new consent from the form, then the same query is answered again.
    visible_text(browser, "#grant-agencies", "Human")
    browser.find_element(By.ID, "grant-agency-human_services").click()
    browser.find_element(By.ID, "grant").click()
    visible_text(browser, "#status", "recorded on the ledger")
    visible_text(browser, "#consents", "active")
    again = worker.query(PROFILE, variables={"id": PERSON})
    assert again["data"]["person"]["diagnoses"], again

    # On a phone-sized screen the page still fits without sideways scrolling.
    browser.set_window_size(390, 844)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390
    shot(browser, "citizen-phone")


def test_auditor_reviews_an_emergency_access_and_verifies_receipts(audit, ledgered, browser):
    ledgered.grant(PERSON, ("human_services",))
    worker = audit.gateway
    worker.query(PROFILE, variables={"id": PERSON})
    emergency = worker.query(
        "query($id: ID!) { person(id: $id) { diagnoses { code } } }",
        agency="health",
        purpose="ETREAT",
        variables={"id": PERSON},
        headers={"Accord-Justification": "unconscious patient in the emergency department"},
    )
    assert emergency["data"]["person"]["diagnoses"], emergency
    denied = worker.query(PROFILE, agency="courts", purpose="HLEGAL", variables={"id": PERSON})
    assert denied.get("errors")

    sign_in(browser, audit.url, audit.idp.auditor_token())
    wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "#chart svg rect")))
    visible_text(browser, "#disclosures-count", "disclosure(s) match")
    visible_text(browser, "#denials", "CONSENT_REQUIRED")
    visible_text(browser, "#bg-queue", "unconscious patient")
    size = int(browser.find_element(By.ID, "ledger-size").text)
    assert size > 0
    assert every_control_is_labelled(browser) == []
    shot(browser, "auditor-overview")

    # Replay a recorded decision from the ledger.
    browser.find_element(By.CSS_SELECTOR, "#disclosures tbody tr button").click()
    visible_text(browser, "#status", "the same decision on the same basis")

    # Review the emergency access: it leaves the queue and is recorded on the ledger.
    browser.find_element(By.CSS_SELECTOR, "#bg-queue input").send_keys("checked with the ward")
    browser.find_element(By.XPATH, "//ul[@id='bg-queue']//button[text()='Justified']").click()
    visible_text(browser, "#bg-queue", "Nothing awaits review")
    visible_text(browser, "#ledger-size", str(size + 1))

    # Verify a receipt against the latest checkpoint, then against a doctored one.
    field = browser.find_element(By.ID, "verify-index")
    field.send_keys("3")
    browser.find_element(By.ID, "verify").click()
    visible_text(browser, "#verify-result", "whose signature by the log key checks out")
    # Against a key the log does not sign with, the same receipt does not verify.
    stranger = keys.generate("stranger.example/log").verifier.encode()
    browser.find_element(By.ID, "verify-key").send_keys(stranger)
    browser.find_element(By.ID, "verify").click()
    visible_text(browser, "#verify-result", "not signed by stranger.example/log")
    browser.find_element(By.ID, "verify-key").clear()
    # With the log's real key, pasted as a pinned key, it verifies again.
    browser.find_element(By.ID, "verify-key").send_keys(ledgered.signer().verifier.encode())
    browser.find_element(By.ID, "verify").click()
    visible_text(browser, "#verify-result", "whose signature by the log key checks out")
    browser.find_element(By.ID, "verify-key").clear()
    note = browser.find_element(By.ID, "ledger-note").get_attribute("textContent")
    lines = note.split("\n")
    lines[2] = "A" * 43 + "="  # a root the log never signed
    browser.find_element(By.ID, "verify-checkpoint").send_keys("\n".join(lines[:3]))
    browser.find_element(By.ID, "verify").click()
    visible_text(browser, "#verify-result", "Not verified")
    field.clear()
    field.send_keys(str(size + 50))
    browser.find_element(By.ID, "verify-checkpoint").clear()
    browser.find_element(By.ID, "verify").click()
    visible_text(browser, "#verify-result", "Not verified")
    shot(browser, "auditor-verify")

    # The filter narrows the table to one providing agency.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "f-provider")).select_by_value("education")
    browser.find_element(By.ID, "filter").click()
    visible_text(browser, "#disclosures-count", "0 disclosure(s) match")
    visible_text(browser, "#chart-caption", ": 0 disclosures")  # the chart follows the filter


def test_a_bad_token_is_refused_with_a_message(audit, browser):
    browser.get(f"{audit.url}/ui/")
    box = wait(browser, ec.element_to_be_clickable((By.ID, "token")))
    box.send_keys("not-a-token")
    browser.find_element(By.ID, "signin").click()
    visible_text(browser, "#status", "Sign-in failed")
    assert browser.find_element(By.ID, "citizen").is_displayed() is False
    assert browser.find_element(By.ID, "auditor").is_displayed() is False


def test_agency_administrator_sees_their_agency_and_cannot_review(audit, ledgered, browser):
    ledgered.grant(PERSON, ("human_services",))
    worker = audit.gateway
    worker.query(PROFILE, variables={"id": PERSON})
    worker.query(
        "query($id: ID!) { person(id: $id) { diagnoses { code } } }",
        agency="health",
        purpose="ETREAT",
        variables={"id": PERSON},
        headers={"Accord-Justification": "unconscious patient in the emergency department"},
    )
    sign_in(browser, audit.url, audit.idp.admin_token("education"))
    visible_text(browser, "#disclosures-count", "0 disclosure(s) match")
    visible_text(browser, "#bg-queue", "Nothing awaits review")
    sign_in(browser, audit.url, audit.idp.admin_token("health"))
    visible_text(browser, "#bg-queue", "unconscious patient")
    assert browser.find_elements(By.CSS_SELECTOR, "#bg-queue button") == []
    rows = browser.find_elements(By.CSS_SELECTOR, "#disclosures tbody tr")
    assert rows and all("Health" in row.text for row in rows)
    shot(browser, "agency-admin")


def test_auditor_sees_witness_cosignatures_verified_in_the_browser(
    data_dir, agencies, ledgered, browser
):
    import time

    from app.settings import Witness
    from ledger import checkpoint as notes
    from tests.enforcement.world import start_gateway, stop

    witness = keys.generate("witness.example/health", keys.ALG_COSIGNATURE_V1)
    gateway = start_gateway(
        data_dir,
        agencies.supergraph,
        witnesses=[Witness(name=witness.name, key=witness.verifier.encode())],
        cosignature_quorum=1,
    )
    try:
        url = gateway.server.url
        sign_in(browser, url, gateway.idp.auditor_token())
        visible_text(browser, "#ledger-cosignatures", "none yet; needs 1")
        note = gateway.client.get(f"{url}/ledger/checkpoint").text
        body, _ = notes.split_note(note)
        line = notes.cosign(body, witness, int(time.time())).line()
        assert gateway.client.post(f"{url}/ledger/cosign", content=note + line).status_code == 200
        sign_in(browser, url, gateway.idp.auditor_token())
        visible_text(browser, "#ledger-cosignatures", "1 verified in this browser; final")
        assert witness.name in browser.find_element(By.ID, "ledger-cosignatures").text
        shot(browser, "auditor-cosigned")
    finally:
        stop(gateway)
