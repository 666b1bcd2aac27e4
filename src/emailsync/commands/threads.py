"""`emailsync threads`: conversations as a user may see them, and the owner's actions on
them (share, link, unlink, split); `rebuild` threads an account's mail again."""

from __future__ import annotations

import argparse
from typing import Any

import sqlalchemy as sa

from emailsync.commands.common import context, print_json, reading, relink, table, user_id
from emailsync.errors import UsageError
from emailsync.store import accounts as account_store
from emailsync.store import conversations, threads
from emailsync.store.tables import messages


def register(sub: Any) -> None:
    group = sub.add_parser("threads", help="conversations").add_subparsers(metavar="ACTION")
    p = group.add_parser("list", help="threads a user may see, newest first")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.add_argument("--search")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_list)
    p = group.add_parser("show", help="one thread with its messages")
    p.add_argument("thread", type=int)
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_show)
    p = group.add_parser("share", help="set a thread private or shared (owner only)")
    p.add_argument("thread", type=int)
    p.add_argument("sharing", choices=["private", "shared"])
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.set_defaults(handler=_action, action="share")
    for action in ("link", "unlink"):
        p = group.add_parser(action, help=f"{action} a thread and a person, org or deal")
        p.add_argument("thread", type=int)
        p.add_argument("--user", required=True, metavar="EMAIL")
        p.add_argument("--person", type=int, metavar="ID")
        p.add_argument("--org", type=int, metavar="ID")
        p.add_argument("--deal", type=int, metavar="ID")
        p.set_defaults(handler=_action, action=action)
    p = group.add_parser("split", help="move messages into a thread of their own")
    p.add_argument("messages", type=int, nargs="+", metavar="MESSAGE")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.set_defaults(handler=_split)
    p = group.add_parser("rebuild", help="thread an account's mail again from scratch")
    p.add_argument("account", metavar="ACCOUNT")
    p.set_defaults(handler=_rebuild)


def _record_json(r: conversations.LinkedRecord) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "reason": r.reason, "manual": r.manual}


def _summary_json(t: conversations.ThreadSummary) -> dict[str, Any]:
    return {
        "id": t.id,
        "subject": t.subject,
        "last_message_at": t.last_message_at.isoformat() if t.last_message_at else None,
        "message_count": t.message_count,
        "owner_user_id": t.owner_user_id,
        "account": t.account_email,
        "sharing": t.sharing,
        "participants": list(t.participants),
        "snippet": t.snippet,
        "unread": t.unread,
        "persons": [_record_json(p) for p in t.persons],
        "organisations": [_record_json(o) for o in t.organisations],
        "deal": _record_json(t.deal) if t.deal else None,
    }


def _viewer(engine: sa.Engine, email: str) -> int:
    found = user_id(engine, email)
    assert found is not None  # --user is required
    return found


def _list(args: argparse.Namespace) -> None:
    _, engine = context()
    viewer = _viewer(engine, args.user)
    with reading(engine) as conn:
        found = conversations.list_visible_threads(
            conn, viewer, search=args.search or "", limit=args.limit, offset=args.offset
        )
    if args.json:
        print_json([_summary_json(t) for t in found])
        return
    table(
        [
            [
                str(t.id),
                (t.last_message_at.strftime("%Y-%m-%d %H:%M") if t.last_message_at else ""),
                str(t.message_count),
                t.sharing,
                (t.subject or "(no subject)")[:50],
                ", ".join(p.name for p in t.persons)[:40],
            ]
            for t in found
        ],
        ["ID", "LAST", "MSGS", "SHARING", "SUBJECT", "PERSONS"],
    )


def _show(args: argparse.Namespace) -> None:
    _, engine = context()
    viewer = _viewer(engine, args.user)
    with reading(engine) as conn:
        detail = conversations.get_visible_thread(conn, viewer, args.thread)
    if detail is None:
        raise UsageError(f"No thread {args.thread}")
    data = _summary_json(detail.summary)
    data["messages"] = [
        {
            "id": m.id,
            "message_id": m.message_id,
            "subject": m.subject,
            "from": m.from_email,
            "to": list(m.to),
            "cc": list(m.cc),
            "date": m.date.isoformat(),
            "direction": m.direction,
            "on_deal": m.on_deal,
            "text": m.text_body,
        }
        for m in detail.messages
    ]
    if args.json:
        print_json(data)
        return
    print(f"{data['subject']}  (thread {data['id']}, {data['sharing']})")
    for m in data["messages"]:
        print(f"\n{m['date'][:16]}  {m['from']} → {', '.join(m['to'])}\n{m['text'][:400]}")


def _action(args: argparse.Namespace) -> None:
    _, engine = context()
    actor = _viewer(engine, args.user)
    with engine.begin() as conn:
        if args.action == "share":
            conversations.set_sharing(conn, actor, args.thread, args.sharing)
            print(f"Thread {args.thread} is {args.sharing} now")
            return
        targets = [("person", args.person), ("organisation", args.org), ("deal", args.deal)]
        chosen = [(k, v) for k, v in targets if v is not None]
        if len(chosen) != 1:
            raise UsageError("Name exactly one of --person, --org, --deal")
        kind, target = chosen[0]
        if args.action == "link":
            conversations.link(conn, actor, args.thread, kind, target)
        else:
            conversations.unlink(conn, actor, args.thread, kind, target)
    print(f"Thread {args.thread}: {args.action}ed {kind} {target}")


def _split(args: argparse.Namespace) -> None:
    _, engine = context()
    actor = user_id(engine, args.user)
    with engine.begin() as conn:
        owners: set[int | None] = set(
            conn.execute(
                sa.select(messages.c.thread_id).where(messages.c.id.in_(args.messages))
            ).scalars()
        )
        if len(owners) != 1 or None in owners:
            raise UsageError("Name messages of one thread")
        (thread_id,) = {t for t in owners if t is not None}
        if conversations.thread_owner(conn, thread_id) != actor:
            raise UsageError(f"Only the owner of thread {thread_id} can split it")
        new_id = threads.split_thread(conn, args.messages)
    print(f"Moved {len(args.messages)} messages from thread {thread_id} to new thread {new_id}")


def _rebuild(args: argparse.Namespace) -> None:
    _, engine = context()
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        count = threads.rebuild_threads(conn, account.id)
    linked = relink(engine)
    print(f"Threaded {count} messages of {account.email} again; {linked} threads linked to deals")
