"""The web console in a real browser (Debian's chromium, driven by selenium through chromedriver).

Sign in, create a sandbox deployment from the form, watch the progress bar reach ready and logs stream in,
chat (streamed), pause and resume, delete with confirmation. The sandbox is the product's own simulated
Runpod; the Hub is out of reach (the sandbox's offline catalog answers) and Runpod's addresses lead nowhere,
so nothing leaves the machine but the webhook, which a local receiver takes. Screenshots of the list and the
deployment page at laptop and phone widths go to test-artifacts/console/ (git-ignored). Any browser console
error fails the test. Run alone with `pytest -m browser`. `make test` installs chromium first (the browser-deps target).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import API_KEY, ROOT, Server, launch
from tests.fakes.webhooks import WebhookReceiver

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts" / "console"
MODEL = "Qwen/Qwen2.5-0.5B-Instruct"  # in the sandbox's offline catalog: a text model, served by "vLLM"
IMAGE_MODEL = "stabilityai/sdxl-turbo"  # an image model of the same catalog
CLOSED = "http://127.0.0.1:9"  # nothing listens here
LAPTOP = (1366, 900)
PHONE = (390, 844)


def _driver() -> WebDriver:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("chromium and chromedriver are missing: run `make browser-deps` (part of `make test`)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    options.add_argument("--headless=new")
    options.add_argument(f"--window-size={LAPTOP[0]},{LAPTOP[1]}")
    options.add_argument("--disable-dev-shm-usage")
    if os.geteuid() == 0:  # chromium refuses to run its sandbox as root
        options.add_argument("--no-sandbox")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


@pytest.fixture(scope="module")
def webhooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


ENV = {
    "HF_ENDPOINT": CLOSED,
    "RUNPOD_API_BASE": CLOSED,
    "RUNPOD_RUNTIME_BASE": CLOSED,
    "SANDBOX_POLL_INTERVAL_SECONDS": "0.2",
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """The server, and any that replaced it (a restart on the same port and data); all stop at the end."""
    started = [launch(tmp_path_factory.mktemp("console") / "data", ENV)]
    yield started
    for srv in started:
        srv.stop()


def restart(servers: list[Server]) -> Server:
    old = servers[-1]
    old.stop()
    port = int(old.base_url.rsplit(":", 1)[1])
    servers.append(launch(old.data_dir, ENV, port=port))
    return servers[-1]


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    driver = _driver()
    failed_before = request.session.testsfailed
    yield driver
    if request.session.testsfailed > failed_before:  # what the page showed when it failed
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "failure.png"))
        print(f"--- failed at {driver.current_url}; browser log ---\n{driver.get_log('browser')}")
    driver.quit()


class Console:
    """The console as a person uses it: find, type, click, wait (explicit waits only)."""

    def __init__(self, driver: WebDriver, server: Server):
        self.driver, self.server = driver, server
        self.errors: list[dict] = []

    def wait(self, timeout: float = 20.0) -> WebDriverWait:
        # The page re-renders as it polls: an element found a moment ago may be replaced; look again.
        return WebDriverWait(
            self.driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        )

    def find(self, css: str, timeout: float = 20.0) -> WebElement:
        found: WebElement = self.wait(timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))
        return found

    def click(self, css: str) -> None:
        def clicked(driver: WebDriver) -> bool:
            element = ec.element_to_be_clickable((By.CSS_SELECTOR, css))(driver)
            if not element:
                return False
            element.click()  # a replaced element raises StaleElementReferenceException: wait() tries again
            return True

        self.wait().until(clicked)

    def type(self, css: str, text: str) -> None:
        def typed(_: WebDriver) -> bool:
            field = self.find(css)
            field.clear()
            field.send_keys(text)
            return True

        self.wait().until(typed)

    def heading(self, text: str) -> None:
        self.wait().until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "main h1"), text))

    def main_status(self, status: str, timeout: float = 60.0) -> None:
        self.wait(timeout).until(
            lambda d: d.find_element(By.ID, "main").get_attribute("data-status") == status,
            f"the deployment page never showed {status}\n--- server log ---\n{self.server.log()}",
        )

    def screenshot(self, name: str, size: tuple[int, int]) -> Path:
        """The whole page at this width (the window grows to the page's height, up to 4000 px)."""
        self.driver.set_window_size(*size)
        self.wait().until(lambda d: d.execute_script("return window.innerWidth") <= size[0])
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(size[0], min(4000, max(size[1], height + 140)))
        self.driver.execute_script("window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}-{size[0]}.png"
        assert self.driver.save_screenshot(str(path)), path
        return path

    def collect_console(self, outage: bool = False) -> None:
        """The console's errors so far; with `outage`, requests refused while the server was down are expected."""
        for entry in self.driver.get_log("browser"):
            if entry["level"] == "SEVERE" and not (outage and "net::ERR_" in entry["message"]):
                self.errors.append(entry)

    def log_ids(self) -> list[str]:
        return [li.get_attribute("data-id") or "" for li in self.driver.find_elements(By.CSS_SELECTOR, "#logs li")]

    def stream_connects(self) -> int:
        return int(self.find("#stream-state").get_attribute("data-connects") or 0)


def test_console_end_to_end(browser: WebDriver, servers: list[Server], webhooks: WebhookReceiver) -> None:
    server = servers[0]
    ui = Console(browser, server)
    browser.get(f"{server.base_url}/console")

    # Sign in: the key is kept in sessionStorage, never in the URL.
    ui.type("#sign-in input[name=api_key]", API_KEY + Keys.ENTER)  # the keyboard alone signs in
    ui.heading("Deployments")
    browser.switch_to.active_element.send_keys(Keys.TAB)  # focus moves on, and shows where it is
    focused = browser.switch_to.active_element
    assert focused.tag_name in {"select", "input", "a", "button"}
    assert browser.execute_script("return getComputedStyle(arguments[0]).outlineStyle", focused) != "none"
    assert browser.execute_script("return sessionStorage.getItem('orchestrator.apiKey')") == API_KEY
    assert API_KEY not in browser.current_url

    # A sandbox deployment from the form: the GPU choice shows the model's VRAM estimate and prices.
    ui.click("nav a[href='#/new']")
    ui.heading("New deployment")
    ui.type("#create-form input[name=model]", MODEL)
    ui.wait().until(ec.text_to_be_present_in_element((By.ID, "vram-estimate"), "Estimated VRAM"))
    ui.wait().until(lambda d: d.find_element(By.ID, "create-form").get_attribute("data-pools") == MODEL)
    assert "$" in ui.find(".choices .choice:not(.unfit) label").text
    ui.type("#create-form input[name=webhook]", f"{webhooks.base_url}/hook")
    assert ui.find("#sandbox").is_selected(), "the sandbox is the form's default"
    assert not ui.find("#create-form input[name=runpod_key]").is_enabled(), "no Runpod key in the sandbox"
    ui.click("#create-form button[type=submit]")
    ui.wait().until(ec.url_contains("#/deployments/dep_"))
    dep_id = browser.current_url.rsplit("/", 1)[1]

    # Progress to ready; logs stream in over SSE.
    ui.main_status("ready", timeout=90)
    ui.wait().until(lambda d: d.find_element(By.CSS_SELECTOR, "#main progress").get_attribute("value") == "100")
    ui.wait().until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#logs li")) >= 3)
    assert ui.find("#stream-state").text in {"live", "ended"}
    assert ui.find("svg.timeline").get_attribute("role") == "img"
    ui.find("#health-state")

    # A dropped connection: the server restarts (same port, same data); the log stream connects again with
    # Last-Event-ID and goes on after the last line it saw: nothing lost, nothing twice.
    ui.collect_console()
    ui.server = server = restart(servers)
    ui.wait(30).until(lambda _: ui.stream_connects() >= 2 and ui.find("#stream-state").text == "live")
    ui.wait(30).until(lambda _: ui.find("#health-state").text == "Healthy")  # the page's polling is back too
    ui.collect_console(outage=True)
    ui.click("#pause-resume")
    ui.main_status("paused")
    ui.wait().until(ec.text_to_be_present_in_element((By.ID, "pause-resume"), "Resume"))
    ui.click("#pause-resume")
    ui.main_status("ready")
    stored = [line["id"] for line in server.get(f"/v1/deployments/{dep_id}/logs?tail=5000").json()["data"]]
    ui.wait().until(lambda _: ui.log_ids() == stored, "the page's log lines are the stored ones, in order")
    assert len(set(stored)) == len(stored)
    assert ui.find("#main .badge.sandbox").text == "sandbox"
    ui.screenshot("deployment", LAPTOP)
    ui.screenshot("deployment", PHONE)
    browser.set_window_size(*LAPTOP)

    # Chat, streamed through the OpenAI-compatible route.
    ui.type("#chat-form textarea", "Say hello")
    ui.click("#chat-form button[type=submit]")
    ui.wait(30).until(lambda d: d.find_element(By.ID, "chat-answer").get_attribute("data-state") in {"done", "error"})
    answer = ui.find("#chat-answer")
    assert answer.get_attribute("data-state") == "done" and answer.text.strip(), answer.text

    # Scale, and send the ready webhook again.
    ui.type("#scale-form input[name=max_replicas]", "2")
    ui.click("#scale-form button[type=submit]")
    ui.wait().until(ec.text_to_be_present_in_element((By.ID, "status"), "Scaling updated."))
    assert server.deployment(dep_id)["max_replicas"] == 2
    ui.click("#deliveries button[aria-label='Redeliver deployment.ready']")
    ui.wait().until(ec.text_to_be_present_in_element((By.ID, "status"), "Redelivery of deployment.ready queued."))
    ui.wait().until(lambda _: webhooks.events().count("deployment.ready") >= 2)

    # The list: the row with its status, phase bar, GPU and price.
    ui.click("nav a[href='#/']")
    ui.heading("Deployments")
    row = ui.find(f"tr[data-id='{dep_id}']")
    assert row.get_attribute("data-status") == "ready"
    assert row.find_element(By.CSS_SELECTOR, ".badge.sandbox").is_displayed()
    Select(ui.find("select[name=status]")).select_by_value("ready")
    ui.click("form.filters button[type=submit]")
    ui.find(f"tr[data-id='{dep_id}']")
    ui.screenshot("list", LAPTOP)
    ui.screenshot("list", PHONE)
    browser.set_window_size(*LAPTOP)

    # A failure on request (the sandbox's crash_loop): the failed step is marked on the timeline.
    ui.click("nav a[href='#/new']")
    ui.type("#create-form input[name=model]", MODEL)
    Select(ui.find("#create-form select[name=scenario]")).select_by_value("crash_loop")
    ui.click("#create-form button[type=submit]")
    ui.wait().until(lambda d: "#/deployments/dep_" in d.current_url and dep_id not in d.current_url)
    ui.main_status("failed")
    ui.find("svg.timeline .st-failed rect")
    assert "failed" in ui.find("svg.timeline .st-failed .mark").text
    assert "worker_unhealthy" in ui.find("#main .error").text
    failed_id = browser.current_url.rsplit("/", 1)[1]

    # An image model: "try it" shows the PNG the job returns.
    ui.click("nav a[href='#/new']")
    ui.type("#create-form input[name=model]", IMAGE_MODEL)
    ui.click("#create-form button[type=submit]")
    ui.wait().until(lambda d: "#/deployments/dep_" in d.current_url and failed_id not in d.current_url)
    ui.main_status("ready")
    ui.click("#image-form button[type=submit]")
    image = ui.find("#image-form img", timeout=30)
    ui.wait().until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    ui.click("nav a[href='#/']")
    ui.heading("Deployments")

    # Delete, after confirming.
    ui.click(f"tr[data-id='{dep_id}'] a")
    ui.main_status("ready")
    ui.click("#delete")
    ui.find("#confirm-delete[open]")
    ui.click("#confirm-delete-button")
    ui.heading("Deployments")
    ui.wait().until(lambda _: server.get(f"/v1/deployments/{dep_id}").json().get("status", "gone") != "ready")

    assert "deployment.ready" in webhooks.events(), webhooks.events()
    ui.collect_console()
    assert ui.errors == [], ui.errors
