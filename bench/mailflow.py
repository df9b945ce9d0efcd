#!/usr/bin/env python3
"""What a deployed cluster carries, measured with real clients (Python's smtplib, imaplib).

  mailflow.py delivery SMTP_HOST IMAP_HOST USER PASSWORD --rate 50 --count 500 [--size BYTES]
      Sends COUNT messages to USER over SMTP (port 25) at RATE per second, from SENDERS
      persistent sessions, and watches USER's INBOX through the proxy (IMAP over TLS,
      NOOP + UID SEARCH every 10 ms). Each message's delay runs from the MTA's 250 after
      DATA to the first poll that sees it. Prints JSON: accepted/s, delivered/s, delay
      percentiles.
  mailflow.py logins IMAP_HOST USER PASSWORD --seconds 10 --workers 8
      IMAP logins through the proxy (TCP + TLS + LOGIN + LOGOUT) per second.

The INBOX is emptied first, so runs do not disturb each other.
"""
import argparse
import imaplib
import json
import smtplib
import ssl
import statistics
import threading
import time
import uuid

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def imap(host, user, password):
    m = imaplib.IMAP4_SSL(host, 993, ssl_context=CTX, timeout=30)
    m.login(user, password)
    return m


def empty_inbox(host, user, password):
    m = imap(host, user, password)
    typ, data = m.select("INBOX")
    if int(data[0]) > 0:
        m.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
        m.expunge()
    m.logout()


def message(user, tag, size):
    body = "x" * 60 + "\r\n"
    if size:
        # An attachment of SIZE bytes, base64-encoded as a mail client sends it.
        line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n"
        # A file of SIZE bytes travels as base64: 4/3 of it.
        attachment = line * (size * 4 // 3 // len(line) + 1)
        return (
            f"From: bench@example.org\r\nTo: {user}\r\nSubject: bench {tag}\r\nX-Bench-Id: {tag}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            f"--b\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
            "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename=a.bin\r\n\r\n{attachment}\r\n--b--\r\n"
        )
    return f"From: bench@example.org\r\nTo: {user}\r\nSubject: bench {tag}\r\nX-Bench-Id: {tag}\r\n\r\n{body}"


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def delivery(a):
    empty_inbox(a.imap_host, a.user, a.password)
    run = uuid.uuid4().hex[:8]
    accepted = {}
    seen = {}
    errors = []
    lock = threading.Lock()
    done_sending = threading.Event()

    def watch():
        m = imap(a.imap_host, a.user, a.password)
        m.select("INBOX", readonly=True)
        last_uid = 0
        while True:
            m.noop()
            typ, data = m.uid("SEARCH", None, f"UID {last_uid + 1}:*")
            uids = [int(u) for u in data[0].split() if int(u) > last_uid]
            if uids:
                now = time.monotonic()
                typ, fetched = m.uid("FETCH", ",".join(map(str, uids)), "(BODY.PEEK[HEADER.FIELDS (X-BENCH-ID)])")
                for part in fetched:
                    if isinstance(part, tuple):
                        tag = part[1].decode().split(":", 1)[-1].strip()
                        with lock:
                            seen.setdefault(tag, now)
                last_uid = max(uids)
            with lock:
                complete = done_sending.is_set() and len(seen) >= len(accepted)
            if complete or (done_sending.is_set() and time.monotonic() - done_at[0] > a.settle):
                break
            time.sleep(0.01)
        m.logout()

    done_at = [0.0]
    watcher = threading.Thread(target=watch)
    watcher.start()

    interval = 1.0 / a.rate
    start = time.monotonic()
    slots = list(range(a.count))

    def send(worker):
        s = smtplib.SMTP(a.smtp_host, 25, timeout=60)
        s.ehlo("bench.example.org")
        for i in slots[worker :: a.senders]:
            due = start + i * interval
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            tag = f"{run}-{i}"
            try:
                s.sendmail("bench@example.org", [a.user], message(a.user, tag, a.size))
                with lock:
                    accepted[tag] = time.monotonic()
            except Exception as e:  # noqa: BLE001 - every failure is counted, not fatal
                with lock:
                    errors.append(f"{tag}: {e}")
                s = smtplib.SMTP(a.smtp_host, 25, timeout=60)
                s.ehlo("bench.example.org")
        s.quit()

    senders = [threading.Thread(target=send, args=(w,)) for w in range(a.senders)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    sent_for = time.monotonic() - start
    done_at[0] = time.monotonic()
    done_sending.set()
    watcher.join()
    delays = [seen[t] - accepted[t] for t in accepted if t in seen]
    last_seen = max(seen.values(), default=start)
    out = {
        "messages": a.count,
        "size_bytes": a.size,
        "rate_asked": a.rate,
        "accepted": len(accepted),
        "delivered": len(delays),
        "errors": errors[:5],
        "accepted_per_s": round(len(accepted) / sent_for, 1),
        "delivered_per_s": round(len(delays) / max(last_seen - start, 1e-9), 1),
        "delay_s": {
            "p50": round(percentile(delays, 50), 3) if delays else None,
            "p95": round(percentile(delays, 95), 3) if delays else None,
            "p99": round(percentile(delays, 99), 3) if delays else None,
            "max": round(max(delays), 3) if delays else None,
            "mean": round(statistics.mean(delays), 3) if delays else None,
        },
    }
    print(json.dumps(out))


def logins(a):
    count = [0]
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + a.seconds

    def work():
        while time.monotonic() < stop:
            try:
                m = imap(a.imap_host, a.user, a.password)
                m.logout()
                with lock:
                    count[0] += 1
            except Exception:  # noqa: BLE001
                with lock:
                    errors[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(a.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    print(json.dumps({"logins": count[0], "errors": errors[0], "seconds": round(took, 2),
                      "workers": a.workers, "logins_per_s": round(count[0] / took, 1)}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("delivery")
    d.add_argument("smtp_host")
    d.add_argument("imap_host")
    d.add_argument("user")
    d.add_argument("password")
    d.add_argument("--rate", type=float, default=50)
    d.add_argument("--count", type=int, default=500)
    d.add_argument("--size", type=int, default=0)
    d.add_argument("--senders", type=int, default=4)
    d.add_argument("--settle", type=float, default=60, help="seconds to wait for stragglers")
    l = sub.add_parser("logins")
    l.add_argument("imap_host")
    l.add_argument("user")
    l.add_argument("password")
    l.add_argument("--seconds", type=float, default=10)
    l.add_argument("--workers", type=int, default=8)
    a = p.parse_args()
    delivery(a) if a.cmd == "delivery" else logins(a)


if __name__ == "__main__":
    main()
