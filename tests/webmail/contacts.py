"""A contact saved through one webmail host is seen through another (one shared database).

    contacts.py URL_A URL_B ARTIFACTS_DIR USER PASSWORD CONTACT_NAME CONTACT_EMAIL

Logs in at URL_A, saves the contact in the personal address book and logs out; logs in at
URL_B and finds it there. Prints `step ok` or `step FAILED: why` per step; exits 1 on failure.
"""
import sys

from playwright.sync_api import sync_playwright

url_a, url_b, artifacts, user, password, name, email = sys.argv[1:8]
failed = False
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def step(label, fn):
    global failed
    try:
        fn()
        print(f"{label} ok", flush=True)
    except Exception as e:  # noqa: BLE001 - any failure is reported and the run goes on
        failed = True
        print(f"{label} FAILED: {str(e).splitlines()[0] if str(e) else repr(e)}", flush=True)


def log_in(page, url):
    page.goto(url)
    page.fill("#rcmloginuser", user)
    page.fill("#rcmloginpwd", password)
    page.click("#rcmloginsubmit")
    page.wait_for_url("**_task=mail**")


def save_contact(page):
    log_in(page, url_a)
    page.goto(url_a + "?_task=addressbook")
    page.click("a.create")
    form = page.frame_locator("iframe[name=contact-frame]")
    form.locator("input[name=_firstname]").fill(name)
    form.locator("input[name='_email[]']").first.fill(email)
    form.locator("button.submit").click()
    page.wait_for_selector("text=Successfully saved")
    page.click("a.logout")
    page.wait_for_selector("#rcmloginuser")


def see_contact(page):
    log_in(page, url_b)
    page.goto(url_b + "?_task=addressbook")
    page.wait_for_selector(f"#contacts-table >> text={name}")
    page.screenshot(path=f"{artifacts}/contacts-through-the-other-proxy.png")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    page = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(60000)
    step("save-contact", lambda: save_contact(page))
    step("see-contact", lambda: see_contact(page))
    browser.close()
sys.exit(1 if failed else 0)
