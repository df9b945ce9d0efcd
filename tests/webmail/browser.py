"""Roundcube in a real browser: Debian's chromium, headless, driven by Playwright.

    browser.py URL ARTIFACTS_DIR SUBJECT USER PASSWORD READER READER_PASSWORD TO...

As USER: a wrong password first (Roundcube's own error, no server error), then a login, a
message SUBJECT sent to every TO, an out-of-office reply switched on, and a filter that files
mail from reports@example.org into the folder Reports. Then READER logs in and looks for
SUBJECT in the message list. Screenshots of the login page and of both inboxes go to
ARTIFACTS_DIR. Prints one line per step, `step ok` or `step FAILED: why`, and exits 1 if
any failed.
"""
import sys
import time

from roundcube import Steps, browser_page, submit_login, wait_for_mail_view

url, artifacts, subject, user, password, reader, reader_password = sys.argv[1:8]
recipients = sys.argv[8:]


def log_in(page, who, pw):
    submit_login(page, url, who, pw)


def wrong_password(page):
    response = page.goto(url)
    assert response.status == 200, f"login page answered {response.status}"
    page.screenshot(path=f"{artifacts}/login.png")
    log_in(page, user, password + "-wrong")
    page.wait_for_selector("text=Login failed", timeout=60000)
    assert page.locator("#rcmloginuser").is_visible(), "the login form is gone"


def login(page):
    log_in(page, user, password)
    wait_for_mail_view(page)
    page.screenshot(path=f"{artifacts}/inbox-{user}.png")


def send(page):
    page.click("a.compose")
    page.wait_for_selector("#compose-subject", timeout=60000)
    to = page.locator(".recipient-input input").first
    for r in recipients:
        to.type(r + ",")
    page.fill("#compose-subject", subject)
    page.fill("#composebody", f"{subject}: written in a browser.")
    page.click("button.send")
    page.wait_for_selector("text=Message sent successfully", timeout=60000)


def vacation(page):
    page.goto(url + "?_task=settings&_action=plugin.managesieve-vacation")
    page.fill("#vacation_subject", "Out of office")
    page.fill("textarea[name=vacation_reason]", "I am away this week.")
    page.select_option("select[name=vacation_status]", "on")
    page.click("button.submit")
    page.wait_for_selector("text=Out-of-office data saved successfully", timeout=60000)


def report_filter(page):
    page.goto(url + "?_task=settings&_action=plugin.managesieve")
    page.click("a.create")
    form = page.frame_locator("iframe[name=filter-box]")
    form.locator("input[name=_name]").fill("reports")
    form.locator("select[name='_header[0]']").select_option("from")
    form.locator("select[name='_rule_op[0]']").select_option("contains")
    form.locator("input[name='_rule_target[0][]']").fill("reports@example.org")
    form.locator("select[name='_action_type[0]']").select_option("fileinto")
    form.locator("select[name='_action_mailbox[0]']").select_option("Reports")
    form.locator("button.submit").click()
    page.wait_for_selector("text=saved successfully", timeout=60000)


def reader_sees_it(page):
    page.click("a.logout")
    page.wait_for_selector("#rcmloginuser", timeout=60000)
    log_in(page, reader, reader_password)
    wait_for_mail_view(page)
    deadline = time.time() + 60
    while page.locator(f"#messagelist >> text={subject}").count() == 0:
        assert time.time() < deadline, f"{subject} not in {reader}'s list"
        page.wait_for_timeout(2000)
        page.click("a.refresh") if page.locator("a.refresh").count() else page.reload()
    page.screenshot(path=f"{artifacts}/inbox-{reader}.png")


steps = Steps()
with browser_page() as page:
    steps.run("wrong-password", lambda: wrong_password(page))
    steps.run("login", lambda: login(page))
    steps.run("send", lambda: send(page))
    steps.run("vacation", lambda: vacation(page))
    steps.run("filter", lambda: report_filter(page))
    steps.run("reader", lambda: reader_sees_it(page))
sys.exit(1 if steps.failed else 0)
