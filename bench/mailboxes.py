"""Generate a realistic benchmark mailbox as a Maildir++ tree, cached between runs.

    <dir>/Maildir/cur/...           INBOX
    <dir>/Maildir/.Sent/cur/...     Sent
    <dir>/manifest.json             counts, bytes, size percentiles, generation time
    <dir>/messages.jsonl            one line per message: folder, size, date, addresses,
                                    bytes of the header fields emailsync asks for first

Mail looks like a salesperson's mailbox: ~85% text (plain, or text + HTML), median
message ~9 KB; ~15% carry 1-3 base64 attachments (log-normal, median ~45 KB, at most
1 MB each); replies in threads (In-Reply-To/References); INBOX ~85% \\Seen, ~3%
\\Flagged, ~10% \\Answered, Sent all \\Seen. Dates are spread over the last `span_days`
(more recent mail denser) and each file's mtime is set to its Date, so Dovecot's
INTERNALDATE (what SEARCH SINCE and emailsync's window use) matches the header.

Deterministic for (inbox, sent, span_days, seed) except for "now": dates are relative to
the generation time, so a cached mailbox slowly ages out of a sync window; `ensure()`
regenerates one older than MAX_AGE_DAYS.

    python bench/mailboxes.py --inbox 10000 --sent 2000 --out /tmp/mbox
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

MAX_AGE_DAYS = 14
# What emailsync fetches before deciding on a body (session.HEADER_FIELDS).
FIRST_PASS_FIELDS = ("message-id", "from", "sender", "reply-to", "to", "cc", "bcc")


def _words(text: str) -> list[str]:
    return text.split()


WORDS = _words(
    "the of and to in is that for it as was with be by on not this are or from at which "
    "but have an they you were there been one all we their has would when if so no will "
    "more can out up about who what some could into time only new like other than then "
    "meeting proposal invoice contract quarter revenue customer pipeline forecast "
    "deadline review budget schedule call update follow shipment order pricing discount "
    "renewal support ticket account manager team project release please thanks regards "
    "attached document agenda minutes action items next week monday friday tomorrow "
    "today approve confirm request question answer issue problem solution feedback"
)
FIRST = _words(
    "Anna Ben Carla David Eva Frank Grace Hugo Ines Jonas Karin Lars Maria Nils Olga "
    "Paul Quinn Rosa Sven Tina Uwe Vera Walter Xenia Yusuf Zoe"
)
LAST = _words(
    "Smith Mueller Garcia Rossi Dubois Novak Kowalski Jensen Silva Nakamura Chen Okafor "
    "Schmidt Meyer Weber Fischer Wagner Becker Hoffmann Koch"
)
DOMAINS = _words(
    "example.com example.org acme-corp.example globex.example initech.example "
    "umbrella.example hooli.example vandelay.example"
)
ATTACHMENT_TYPES = (
    ("application/pdf", "pdf"),
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ("application/zip", "zip"),
)
OWNER_NAME = "Alice Example"
OWNER_EMAIL = "alice@example.com"  # the account's own address (From: of Sent mail)


@dataclass(frozen=True)
class Spec:
    inbox: int
    sent: int
    span_days: int = 150
    seed: int = 1
    attachment_ratio: float = 0.15

    @property
    def key(self) -> str:
        return f"i{self.inbox}-s{self.sent}-d{self.span_days}-seed{self.seed}"


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first.lower()}.{last.lower()}@{rng.choice(DOMAINS)}"


def _text(rng: random.Random, size: int) -> str:
    lines, line, n = [], [], 0
    while n < size:
        word = rng.choice(WORDS)
        line.append(word)
        n += len(word) + 1
        if len(line) == 12:
            lines.append(" ".join(line))
            line = []
            if rng.random() < 0.15:
                lines.append("")
    if line:
        lines.append(" ".join(line))
    return "\r\n".join(lines)


def _date(ts: int, rng: random.Random) -> str:
    offset = rng.choice((0, 60, 120, -300, -240, 330, 540))
    t = time.gmtime(ts + offset * 60)
    sign = "+" if offset >= 0 else "-"
    return (
        time.strftime("%a, %d %b %Y %H:%M:%S ", t)
        + f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    )


def _lognormal(rng: random.Random, median: float, sigma: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, int(median * math.exp(rng.gauss(0, sigma)))))


def _address(person: tuple[str, str]) -> str:
    return f'"{person[0]}" <{person[1]}>'


def _message(
    rng: random.Random,
    index: int,
    ts: int,
    thread: list,
    sender: tuple[str, str],
    recipients: list[tuple[str, str]],
    attachment_ratio: float,
) -> tuple[str, bytes, int]:
    """(Message-ID, raw bytes, bytes of the first-pass header fields as IMAP returns them)."""
    subject, ids, _ = thread
    domain = sender[1].split("@")[1]
    message_id = f"<{index}.{rng.getrandbits(32):08x}@{domain}>"
    headers = [
        f"Return-Path: <{sender[1]}>",
        f"Received: from mx{rng.randint(1, 9)}.{domain} "
        f"(mx.{domain} [192.0.2.{rng.randint(1, 254)}])"
        f" by mail.example.com with ESMTPS id {rng.getrandbits(32):08X}; {_date(ts, rng)}",
        f"Message-ID: {message_id}",
        f"Date: {_date(ts, rng)}",
        f"From: {_address(sender)}",
        f"To: {_address(recipients[0])}",
    ]
    if len(recipients) > 1:
        headers.append("Cc: " + ", ".join(_address(p) for p in recipients[1:]))
    if ids:
        headers += [
            f"Subject: Re: {subject}",
            f"In-Reply-To: {ids[-1]}",
            "References: " + "\r\n ".join(ids[-10:]),
        ]
    else:
        headers.append(f"Subject: {subject}")
    headers += ["MIME-Version: 1.0", "X-Mailer: emailsync-bench"]
    first_pass = (
        sum(len(h) + 2 for h in headers if h.split(":", 1)[0].lower() in FIRST_PASS_FIELDS) + 2
    )  # each line's CRLF, then the blank line that ends the header section

    text = _text(rng, _lognormal(rng, 3300, 0.8, 200, 60000))
    if ids and rng.random() < 0.7:
        quoted = _text(rng, len(text) // 2).split("\r\n")
        text += "\r\n\r\nOn an earlier date someone wrote:\r\n" + "\r\n".join(
            "> " + q for q in quoted
        )
    if rng.random() < 0.8:
        alt = f"alt_{rng.getrandbits(32):08x}"
        html = (
            '<html><body><div style="font-family:Arial">'
            + "".join(f"<p>{p}</p>" for p in text.split("\r\n\r\n"))
            + "</div></body></html>"
        )
        html = "\r\n".join(html[i : i + 998] for i in range(0, len(html), 998))
        body = (
            f'Content-Type: multipart/alternative; boundary="{alt}"\r\n\r\n'
            f"--{alt}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
            f"--{alt}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{alt}--\r\n"
        )
    else:
        body = (
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{text}"
        )
    head = "\r\n".join(headers) + "\r\n"
    if rng.random() >= attachment_ratio:
        return message_id, (head + body).encode(), first_pass

    mixed = f"mix_{rng.getrandbits(32):08x}"
    parts = [
        (
            head + f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n\r\n--{mixed}\r\n' + body
        ).encode()
    ]
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        ctype, ext = rng.choice(ATTACHMENT_TYPES)
        encoded = base64.b64encode(rng.randbytes(_lognormal(rng, 45000, 1.3, 2000, 1 << 20)))
        parts.append(
            (
                f'\r\n--{mixed}\r\nContent-Type: {ctype}; name="file{index}.{ext}"\r\n'
                "Content-Transfer-Encoding: base64\r\n"
                f'Content-Disposition: attachment; filename="file{index}.{ext}"\r\n\r\n'
            ).encode()
            + b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
        )
    parts.append(f"\r\n--{mixed}--\r\n".encode())
    return message_id, b"".join(parts), first_pass


def _write_folder(
    rng: random.Random, folder_dir: Path, name: str, count: int, spec: Spec, now: int, index_log
) -> int:
    for sub in ("cur", "new", "tmp"):
        (folder_dir / sub).mkdir(parents=True, exist_ok=True)
    span = spec.span_days * 86400
    stamps = sorted(now - 3600 - int((span - 3600) * rng.random() ** 1.5) for _ in range(count))
    threads: list[list] = []  # [subject, [message ids], participants]
    sent = name == "Sent"
    total = 0
    for i, ts in enumerate(stamps):
        if threads and rng.random() < 0.45:
            thread = rng.choice(threads[-200:])
        else:
            subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
            thread = [subject, [], [_person(rng) for _ in range(rng.randint(1, 4))]]
            threads.append(thread)
        other = rng.choice(thread[2])
        rest = [p for p in thread[2] if p != other][:2]
        me = (OWNER_NAME, OWNER_EMAIL)
        sender, recipients = (me, [other, *rest]) if sent else (other, [me, *rest])
        message_id, data, first_pass = _message(
            rng, i, ts, thread, sender, recipients, spec.attachment_ratio
        )
        thread[1].append(message_id)
        if sent:
            flags = "S"
        else:
            flags = ("R" if rng.random() < 0.10 else "") + ("F" if rng.random() < 0.03 else "")
            flags = "".join(sorted(flags + ("S" if rng.random() < 0.85 else "")))
        path = folder_dir / "cur" / f"{ts}.M{i}P0.bench,S={len(data)}:2,{flags}"
        path.write_bytes(data)
        os.utime(path, (ts, ts))
        total += len(data)
        addresses = sorted({sender[1], *(p[1] for p in recipients)})
        index_log.write(
            json.dumps(
                {
                    "folder": name,
                    "ts": ts,
                    "size": len(data),
                    "header_bytes": first_pass,
                    "addresses": addresses,
                    "message_id": message_id,
                }
            )
            + "\n"
        )
    return total


def generate(spec: Spec, out: Path, *, owner: str | None = "mail") -> dict:
    """Write the mailbox for `spec` into `out` (replaced if present); returns the manifest."""
    if out.exists():
        shutil.rmtree(out)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    rng = random.Random(spec.seed)
    now = int(time.time())
    started = time.monotonic()
    maildir = tmp / "Maildir"
    with open(tmp / "messages.jsonl", "w") as index_log:
        inbox_bytes = _write_folder(rng, maildir, "INBOX", spec.inbox, spec, now, index_log)
        sent_bytes = _write_folder(rng, maildir / ".Sent", "Sent", spec.sent, spec, now, index_log)
    sizes = sorted(m["size"] for m in load_messages(tmp))
    manifest = {
        "spec": spec.__dict__,
        "key": spec.key,
        "generated_at": now,
        "inbox_count": spec.inbox,
        "sent_count": spec.sent,
        "total_count": len(sizes),
        "inbox_bytes": inbox_bytes,
        "sent_bytes": sent_bytes,
        "total_bytes": inbox_bytes + sent_bytes,
        "median_size": sizes[len(sizes) // 2],
        "p90_size": sizes[int(len(sizes) * 0.9)],
        "max_size": sizes[-1],
        "mean_size": (inbox_bytes + sent_bytes) // len(sizes),
        "gen_seconds": round(time.monotonic() - started, 1),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if owner and os.geteuid() == 0:
        for root, dirs, files in os.walk(tmp):
            for name in (*dirs, *files):
                shutil.chown(os.path.join(root, name), owner, owner)
        shutil.chown(tmp, owner, owner)
    tmp.rename(out)
    return manifest


def ensure(spec: Spec, cache_dir: Path, *, log=print) -> Path:
    """The cached mailbox for `spec`, generated when missing or older than MAX_AGE_DAYS."""
    out = cache_dir / spec.key
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        age_days = (time.time() - manifest["generated_at"]) / 86400
        if age_days <= MAX_AGE_DAYS:
            return out
        log(f"cached mailbox {spec.key} is {age_days:.0f} days old; regenerating")
    log(f"generating mailbox {spec.key} (one-off; cached in {cache_dir})")
    manifest = generate(spec, out)
    log(
        f"  {manifest['total_count']} messages, {manifest['total_bytes'] / 1e6:.0f} MB "
        f"in {manifest['gen_seconds']} s"
    )
    return out


def load_messages(mailbox: Path) -> list[dict]:
    with open(mailbox / "messages.jsonl") as f:
        return [json.loads(line) for line in f]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--inbox", type=int, required=True)
    ap.add_argument("--sent", type=int, default=None, help="default: inbox / 5")
    ap.add_argument("--span-days", type=int, default=150)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    spec = Spec(a.inbox, a.sent if a.sent is not None else a.inbox // 5, a.span_days, a.seed)
    print(json.dumps(generate(spec, a.out), indent=1))


if __name__ == "__main__":
    main()
