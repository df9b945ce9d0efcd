"""A contact saved through one webmail host is seen through another (one shared database).

    contacts.py URL_A URL_B ARTIFACTS_DIR USER PASSWORD CONTACT_NAME CONTACT_EMAIL

Logs in at URL_A, saves the contact in the personal address book and logs out; logs in at
URL_B and finds it there. Prints `step ok` or `step FAILED: why` per step; exits 1 on failure.
"""
import sys

from roundcube import Steps, browser_page, submit_login, wait_for_mail_view

url_a, url_b, artifacts, user, password, name, email = sys.argv[1:8]


def log_in(page, url):
    submit_login(page, url, user, password)
    wait_for_mail_view(page)


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


steps = Steps()
with browser_page() as page:
    steps.run("save-contact", lambda: save_contact(page))
    steps.run("see-contact", lambda: see_contact(page))
sys.exit(1 if steps.failed else 0)
