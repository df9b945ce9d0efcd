"""What the browser tests share: a headless Debian chromium that never calls home, steps that
report and go on, and a login to Roundcube."""
from contextlib import contextmanager

from playwright.sync_api import sync_playwright

# The flags keep chromium from calling home: this machine has no route out.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class Steps:
    """Runs named steps; each prints `name ok` or `name FAILED: why`, and the run goes on."""

    def __init__(self):
        self.failed = False

    def run(self, name, fn):
        try:
            fn()
            print(f"{name} ok", flush=True)
        except Exception as e:  # noqa: BLE001 - any failure is reported and the run goes on
            self.failed = True
            print(f"{name} FAILED: {str(e).splitlines()[0] if str(e) else repr(e)}", flush=True)


@contextmanager
def browser_page():
    """A page of a fresh headless chromium that accepts the cluster's own certificates."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800}).new_page()
        # Generous: a loaded test machine serves the first PHP pages slowly; waits end when ready.
        page.set_default_timeout(60000)
        try:
            yield page
        finally:
            browser.close()


def submit_login(page, url, user, password):
    page.goto(url)
    page.fill("#rcmloginuser", user)
    page.fill("#rcmloginpwd", password)
    page.click("#rcmloginsubmit")


def wait_for_mail_view(page):
    """The mail view is up (its list is attached; it is hidden while the mailbox is empty)."""
    page.wait_for_url("**_task=mail**")
    page.wait_for_selector("#messagelist", state="attached")
