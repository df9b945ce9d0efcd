"""Real protocol clients for the move-account tests (Python stdlib only).

  send   MTA USER OUTFILE STOPFILE [INTERVAL]  one message to USER every INTERVAL s (0.1) until
                                              STOPFILE exists; writes each Message-ID accepted,
                                              and `ERROR ...` for any SMTP failure.
  imap   PROXY USER PASSWORD OUTFILE STOPFILE  keeps an IMAP session open through the proxy
                                              (NOOP every 0.2 s), reconnecting when kicked;
                                              writes `login`, `kicked`, `error ...` events.
  check  PROXY USER PASSWORD                  JSON: folders with their Message-IDs and flags.
  fill   MTA USER COUNT PREFIX [BYTES]        COUNT messages (BYTES of body each, default small)
                                              over one SMTP session.
"""
import imaplib
import json
import os
import re
import smtplib
import ssl
import sys
import time


def tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(user, mid, subject, size=0):
    # Base64-looking lines of 76 characters: a body of about `size` bytes.
    filler = "".join(("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
                      for _ in range(int(size) // 78)))
    return (f"From: load@example.org\r\nTo: {user}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{mid}>\r\n\r\nbody of {mid}\r\n{filler}")


def send(mta, user, outfile, stopfile, interval="0.1"):
    n = 0
    with open(outfile, "w", buffering=1) as out:
        while not os.path.exists(stopfile):
            mid = f"load-{n}-{os.getpid()}@test"
            try:
                s = smtplib.SMTP(mta, 25, timeout=20)
                s.sendmail("load@example.org", [user], message(user, mid, f"load {n}"))
                s.quit()
                out.write(mid + "\n")
            except Exception as e:  # any refusal is a failure the test must see
                out.write(f"ERROR {mid} {e!r}\n")
            n += 1
            time.sleep(float(interval))


def imap_session(proxy, user, password, outfile, stopfile):
    with open(outfile, "w", buffering=1) as out:
        m = None
        while not os.path.exists(stopfile):
            try:
                if m is None:
                    m = imaplib.IMAP4_SSL(proxy, 993, ssl_context=tls(), timeout=60)
                    m.login(user, password)
                    m.select("INBOX")
                    out.write("login\n")
                m.noop()
                time.sleep(0.2)
            except (imaplib.IMAP4.abort, OSError, EOFError):
                out.write("kicked\n")
                m = None
            except imaplib.IMAP4.error as e:
                out.write(f"error {e!r}\n")
                m = None
                time.sleep(0.2)
        if m is not None:
            m.logout()


def check(proxy, user, password):
    m = imaplib.IMAP4_SSL(proxy, 993, ssl_context=tls(), timeout=60)
    m.login(user, password)
    folders = {}
    typ, lines = m.list()
    for line in lines:
        name = line.decode().rsplit(' "/" ', 1)[-1].strip('"')
        if "\\Noselect" in line.decode() or "\\NonExistent" in line.decode():
            continue
        typ, count = m.select(f'"{name}"', readonly=True)
        ids = {}
        if int(count[0]) == 0:
            folders[name] = ids
            continue
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for item in data or []:
            if not isinstance(item, tuple):
                continue
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()
            mid = re.search(rb"<([^>]*)>", item[1])
            ids[mid.group(1).decode() if mid else "?"] = sorted(flags)
        folders[name] = ids
    m.logout()
    print(json.dumps({"imap_server_greeting_ok": True, "folders": folders}))


def fill(mta, user, count, prefix, size="0"):
    s = smtplib.SMTP(mta, 25, timeout=60)
    for i in range(int(count)):
        mid = f"{prefix}-{i}@test"
        s.sendmail("load@example.org", [user], message(user, mid, f"{prefix} {i}", size))
    s.quit()


if __name__ == "__main__":
    {"send": send, "imap": imap_session, "check": check, "fill": fill}[sys.argv[1]](*sys.argv[2:])
