"""The console in headless Chromium, driven by selenium, against a running Switchyard (see run.sh).

The tests run in file order on one browser: the later ones use the key and the feature the earlier ones made.
Each page is photographed into $SCREENSHOTS (docs/observability.md shows them).
"""

import base64
import http.server
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["SWITCHYARD_URL"]
MASTER = os.environ["SWITCHYARD_MASTER_KEY"]
SHOTS = os.environ["SCREENSHOTS"]
state = {}


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def shoot(driver, name):
    """Photographs the page whole (DevTools' capture beyond the window), as a PNG in $SCREENSHOTS."""
    os.makedirs(SHOTS, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": max(1280, size["width"]), "height": min(size["height"], 3000), "scale": 1},
        },
    )
    data = base64.b64decode(shot["data"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(SHOTS, name + ".png"), "wb") as file:
        file.write(data)


def go(driver, path):
    driver.get(URL + path)


def heading(driver):
    return driver.find_element(By.TAG_NAME, "h1").text


def submit(form):
    """Submits a form and waits for the page it answers (a click returns before the next page has loaded; the waits
    are generous for a loaded machine and end as soon as the page is there)."""
    click_and_wait(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def click_and_wait(element):
    page = element.parent.find_element(By.TAG_NAME, "html")
    element.click()
    wait = WebDriverWait(element.parent, 30)
    wait.until(expected_conditions.staleness_of(page))
    wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def chat(key, text="hello console", **fields):
    """A chat completion with `key`, sent as any client would; answers its HTTP status."""
    body = {"model": "grok-code-fast-1", "messages": [{"role": "user", "content": text}], **fields}
    request = urllib.request.Request(
        URL + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def row_of(driver, table_id, first):
    """The cells of the row of a table whose first cell reads `first`, or None."""
    for row in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if cells and cells[0].text == first:
            return cells
    return None


def eventually(check, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_page_without_a_session_goes_to_the_log_in_page(browser):
    for path in ["/ui", "/ui/keys", "/ui/spend?group_by=day", "/ui/config"]:
        go(browser, path)
        assert browser.current_url == URL + "/ui/login"
        assert heading(browser) == "Log in"
    shoot(browser, "01-login")


def test_a_wrong_key_is_refused_and_the_master_key_logs_in(browser):
    go(browser, "/ui/login")
    browser.find_element(By.NAME, "key").send_keys("sk-not-the-key-0000")
    submit(browser.find_element(By.TAG_NAME, "form"))
    assert heading(browser) == "Log in" and browser.find_element(By.CLASS_NAME, "error").text
    browser.find_element(By.NAME, "key").send_keys(MASTER)
    submit(browser.find_element(By.TAG_NAME, "form"))
    assert browser.current_url == URL + "/ui"
    assert heading(browser) == "Overview"
    cookie = browser.get_cookie("switchyard_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    # The cookie is out of a script's reach.
    assert "switchyard_session" not in browser.execute_script("return document.cookie")


def test_creating_a_key_shows_it_once(browser):
    go(browser, "/ui/keys")
    form = browser.find_element(By.CSS_SELECTOR, "form[action='/ui/keys/create']")
    form.find_element(By.NAME, "key_alias").send_keys("browser-key")
    form.find_element(By.NAME, "max_budget").send_keys("1")
    submit(form)
    raw = browser.find_element(By.ID, "new-key").text
    assert raw.startswith("sk-")
    state["key"] = raw
    assert row_of(browser, "keys", "browser-key") is not None
    go(browser, "/ui/keys")
    assert raw not in browser.page_source
    assert chat(raw) == 200


def test_the_keys_spend_shows_after_a_request(browser):
    assert chat(state["key"], text="a second request") == 200

    def spent():
        go(browser, "/ui/spend?group_by=api_key")
        cells = row_of(browser, "spend", "browser-key")
        return cells is not None and cells[1].text != "$0.000000" and cells[2].text == "2"

    assert eventually(spent), browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "svg rect.bar")
    shoot(browser, "06-spend")
    go(browser, "/ui/keys")
    assert row_of(browser, "keys", "browser-key")[3].text != "$0.000000"
    shoot(browser, "04-keys")


def test_a_keys_budget_and_limits_are_edited(browser):
    go(browser, "/ui/keys")
    click_and_wait(row_of(browser, "keys", "browser-key")[-1].find_element(By.LINK_TEXT, "Edit"))
    assert heading(browser) == "Edit key"
    shoot(browser, "05-key-edit")
    budget = browser.find_element(By.NAME, "max_budget")
    budget.clear()
    budget.send_keys("2.5")
    browser.find_element(By.NAME, "rpm_limit").send_keys("60")
    submit(browser.find_element(By.CSS_SELECTOR, "form[action='/ui/keys/update']"))
    assert browser.find_element(By.ID, "notice").text == "The key was changed."
    cells = row_of(browser, "keys", "browser-key")
    assert cells[4].text == "$2.50" and cells[5].text == "60 rpm"


def test_the_overview_models_log_and_a_requests_detail(browser):
    go(browser, "/ui")
    cells = row_of(browser, "per-alias", "grok-code-fast-1")
    assert cells[1].text == "2" and cells[2].text == "0" and cells[4].text.endswith(" ms")
    shoot(browser, "02-overview")
    go(browser, "/ui/models")
    cells = row_of(browser, "deployments", "grok-code-fast-1")
    assert cells[3].text == "serving" and cells[4].text == "closed"
    assert "xai-test-key" not in browser.page_source
    shoot(browser, "03-models")
    go(browser, "/ui/logs?model=grok-code-fast-1")
    links = browser.find_elements(By.CSS_SELECTOR, "table a[href^='/ui/logs/detail']")
    assert len(links) == 2
    shoot(browser, "07-request-log")
    click_and_wait(links[0])
    assert heading(browser).startswith("Request ")
    assert row_of(browser, "request", "key_alias")[1].text == "browser-key"
    assert "hello console" not in browser.page_source  # no prompt text without store_prompts
    shoot(browser, "08-request-detail")


def test_a_feature_endpoint_its_prompts_and_a_flag(browser):
    go(browser, "/ui/config")
    form = browser.find_element(By.CSS_SELECTOR, "form[action='/ui/config/feature']:not(.inline)")
    form.find_element(By.NAME, "slug").send_keys("code_review")
    Select(form.find_element(By.NAME, "model")).select_by_visible_text("grok-code-fast-1")
    form.find_element(By.NAME, "defaults").send_keys('{"temperature": 0.2, "max_tokens": 800}')
    submit(form)
    assert browser.find_element(By.ID, "notice").text == "The feature endpoint was made."
    click_and_wait(row_of(browser, "features", "code_review")[6].find_element(By.TAG_NAME, "a"))
    for system in ["You review code. Be terse.", "You review code. Name the riskiest change first."]:
        browser.find_element(By.NAME, "system").send_keys(system)
        browser.find_element(By.NAME, "user").send_keys("Review this diff:\n{{diff}}")
        submit(browser.find_element(By.CSS_SELECTOR, "form:not(.inline)[action^='/ui/config/prompt']"))
    assert "Version 2 was added and is active." in browser.find_element(By.ID, "notice").text
    # A rollback: version 1 made active again.
    submit(row_of(browser, "versions", "1")[3].find_element(By.TAG_NAME, "form"))
    assert browser.find_element(By.ID, "notice").text == "Version 1 is active."
    shoot(browser, "10-prompts")
    go(browser, "/ui/config")
    form = browser.find_element(By.CSS_SELECTOR, "form[action='/ui/config/flag']:not(.inline)")
    form.find_element(By.NAME, "name").send_keys("enable_vision")
    Select(form.find_element(By.NAME, "enabled")).select_by_visible_text("off")
    form.find_element(By.NAME, "overrides").send_keys("tier:pro=on")
    submit(form)
    assert row_of(browser, "flags", "enable_vision")[1].text == "off"
    shoot(browser, "09-config")
    # The feature serves, with its prompt's variable filled.
    assert chat(MASTER, text="x", model="code_review", prompt_variables={"diff": "+1"}) == 200


class Attacker(http.server.BaseHTTPRequestHandler):
    """Another site's page with a form aimed at the console, as a CSRF attack would make it."""

    def do_GET(self):
        page = f"""<!doctype html><html><body>
        <form method="post" action="{URL}/ui/keys/create" id="attack">
        <input name="key_alias" value="forged"><button type="submit">Win a prize</button></form></body></html>"""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page.encode())

    def log_message(self, *arguments):
        pass


def test_a_forged_write_from_another_page_is_refused(browser):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)  # Chrome preconnects idle sockets
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_port}/")
        click_and_wait(browser.find_element(By.CSS_SELECTOR, "#attack button"))
        # The browser sends the session cookie (same site: loopback), so only the missing CSRF token stops it.
        assert eventually(lambda: "/ui/keys/create" in browser.current_url)
        assert heading(browser) == "Refused"
        assert "CSRF" in browser.find_element(By.CLASS_NAME, "error").text
    finally:
        server.shutdown()
    go(browser, "/ui/keys")
    assert row_of(browser, "keys", "forged") is None


def test_revoking_the_key_stops_it(browser):
    go(browser, "/ui/keys")
    submit(row_of(browser, "keys", "browser-key")[-1].find_element(By.TAG_NAME, "form"))
    assert browser.find_element(By.ID, "notice").text == "The key was revoked."
    assert row_of(browser, "keys", "browser-key") is None
    assert chat(state["key"]) == 401


def test_logging_out_ends_the_session(browser):
    go(browser, "/ui")
    click_and_wait(browser.find_element(By.CSS_SELECTOR, "form[action='/ui/logout'] button"))
    assert browser.current_url == URL + "/ui/login"
    go(browser, "/ui/keys")
    assert browser.current_url == URL + "/ui/login"
    assert re.search(r"Log in", heading(browser))
