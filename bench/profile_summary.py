"""Where an emailsync sync spends its time, from a cProfile file.

    .venv/bin/python bench/profile_summary.py bench/results/initial.prof

Stages are cumulative times of emailsync's own entry points (they nest: the IMAP fetch
includes imapclient's parsing and the socket reads); the hot-function list is by own
time (tottime).
"""

from __future__ import annotations

import pstats
import sys
from pathlib import Path

# (label, path suffix of the file, function name); cumulative time of each
STAGES = [
    ("whole process (profiled)", None, None),
    ("sync_account (one pass)", "emailsync/sync/account_sync.py", "sync_account"),
    ("IMAP fetch: session.fetch_messages", "emailsync/imap/session.py", "fetch_messages"),
    ("  imapclient fetch (protocol read + parse)", "imapclient/imapclient.py", "fetch"),
    ("  socket reads (recv_into)", "~", "<method 'recv_into' of '_socket.socket' objects>"),
    ("  SSL reads", "~", "<method 'read' of '_ssl._SSLSocket' objects>"),
    (
        "header summary parse: parse_header_summary",
        "emailsync/mime/parse.py",
        "parse_header_summary",
    ),
    ("full MIME parse: parse_message", "emailsync/mime/parse.py", "parse_message"),
    ("store: write_batch (all inserts of a group)", "emailsync/store/messages.py", "write_batch"),
    ("  sqlite3 cursor.execute", "~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
    ("  sqlite3 executemany", "~", "<method 'executemany' of 'sqlite3.Cursor' objects>"),
    ("  sqlite3 commit", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("  sha256", "~", "<built-in method _hashlib.openssl_sha256>"),
    ("dedup lookups: known_keys", "emailsync/store/messages.py", "known_keys"),
    ("UID SEARCH: search_uids", "emailsync/imap/session.py", "search_uids"),
    ("connect + login: open_session", "emailsync/sync/account_sync.py", "open_session"),
    ("schema check / migrations: open_database", "emailsync/store/db.py", "open_database"),
]


def summarize(path: str | Path, top: int = 25) -> dict:
    stats = pstats.Stats(str(path))
    table = stats.stats  # type: ignore[attr-defined]
    total = max(ct for (_cc, _nc, _tt, ct, _callers) in table.values())
    stages = {}
    for label, suffix, func in STAGES:
        if suffix is None:
            stages[label] = {"cumtime": round(total, 3), "calls": 1}
            continue
        cum, calls = 0.0, 0
        for (filename, _line, name), (_cc, ncalls, _tt, ct, _callers) in table.items():
            if name == func and filename.endswith(suffix):
                cum += ct
                calls += ncalls
        stages[label] = {"cumtime": round(cum, 3), "calls": calls}
    rows = sorted(
        (
            (tt, ct, nc, f"{Path(fn).name}:{ln}({name})")
            for (fn, ln, name), (_cc, nc, tt, ct, _c) in table.items()
        ),
        reverse=True,
    )
    return {
        "stages_cumtime": stages,
        "top_tottime": [
            {"tottime": round(t, 3), "cumtime": round(c, 3), "calls": n, "function": f}
            for t, c, n, f in rows[:top]
        ],
    }


def main() -> None:
    summary = summarize(sys.argv[1])
    width = max(len(k) for k in summary["stages_cumtime"])
    for label, s in summary["stages_cumtime"].items():
        print(f"{label:{width}s} {s['cumtime']:9.2f} s  ({s['calls']} calls)")
    print("\nhottest functions by own time:")
    for r in summary["top_tottime"]:
        print(
            f"{r['tottime']:8.2f} s own {r['cumtime']:8.2f} s cum {r['calls']:>9} calls  "
            f"{r['function']}"
        )


if __name__ == "__main__":
    main()
