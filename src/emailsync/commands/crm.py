"""CRM commands: organisations, deals, threads, links, blocking."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from emailsync.commands.common import context, print_json, table, user_id
from emailsync.store.db import reading


def relink(engine: Any, emails: list[str] | None = None) -> int:
    from emailsync.store.conversations import relink_deals

    with engine.begin() as conn:
        return relink_deals(conn, emails)


# -- organisations ------------------------------------------------------------------------


def _orgs_add(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    org = crm.add_organisation(
        engine,
        args.name,
        args.domain,
        owner_user_id=user_id(engine, args.owner),
        visibility=args.visibility,
    )
    print(f"Organisation {org.name} (id {org.id}): {', '.join(org.domains) or 'no domains'}")


def _org_json(o: Any) -> dict[str, Any]:
    return {
        "id": o.id,
        "name": o.name,
        "domains": list(o.domains),
        "owner_user_id": o.owner_user_id,
        "visibility": o.visibility,
    }


def _orgs_list(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    with reading(engine) as conn:
        orgs = crm.list_organisations(conn)
    if args.json:
        print_json([_org_json(o) for o in orgs])
    else:
        table([[str(o.id), o.name, ", ".join(o.domains)] for o in orgs], ["ID", "NAME", "DOMAINS"])


def _orgs_delete(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    crm.delete_organisation(engine, args.id)
    print(f"Deleted organisation {args.id}")


def _orgs_import(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    count = crm.import_organisations_csv(engine, Path(args.file))
    print(f"Imported {count} organisations from {args.file}")


# -- deals ----------------------------------------------------------------------------------


def _deal_json(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "title": d.title,
        "value": str(d.value),
        "currency": d.currency,
        "status": d.status,
        "person_id": d.person_id,
        "organisation_id": d.organisation_id,
        "owner_user_id": d.owner_user_id,
        "visibility": d.visibility,
    }


def _person_ref(engine: Any, email: str | None) -> int | None:
    from emailsync.errors import UsageError
    from emailsync.store import directory

    if not email:
        return None
    person_id = directory.find_person_by_email(engine, email)
    if person_id is None:
        raise UsageError(
            f"No contact has the address {email}: add it with `emailsync contacts add`"
        )
    return person_id


def _org_ref(engine: Any, name: str | None) -> int | None:
    from emailsync.errors import UsageError
    from emailsync.store import crm

    if not name:
        return None
    with reading(engine) as conn:
        org_id = crm.organisation_by_name(conn, name, create=False)
    if org_id is None:
        raise UsageError(f"No organisation {name}: add it with `emailsync orgs add`")
    return org_id


def _deals_add(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    deal = crm.add_deal(
        engine,
        args.title,
        value=args.value,
        currency=args.currency,
        person_id=_person_ref(engine, args.person),
        organisation_id=_org_ref(engine, args.org),
        owner_user_id=user_id(engine, args.owner),
        status=args.status,
        visibility=args.visibility,
    )
    linked = relink(engine)
    print(f"Deal {deal.title} (id {deal.id}, {deal.status}); {linked} threads linked to deals")


def _deals_update(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    deal = crm.update_deal(
        engine,
        args.id,
        title=args.title,
        value=args.value,
        status=args.status,
        person_id=_person_ref(engine, args.person),
        organisation_id=_org_ref(engine, args.org),
        visibility=args.visibility,
    )
    relink(engine)
    print(f"Deal {deal.title} (id {deal.id}): {deal.status}, {deal.value} {deal.currency}")


def _deals_list(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    with reading(engine) as conn:
        deals = crm.list_deals(conn)
    if args.json:
        print_json([_deal_json(d) for d in deals])
    else:
        table(
            [[str(d.id), d.title, d.status, f"{d.value} {d.currency}"] for d in deals],
            ["ID", "TITLE", "STATUS", "VALUE"],
        )


def _deals_delete(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    crm.delete_deal(engine, args.id)
    print(f"Deleted deal {args.id}")


def _deals_import(args: argparse.Namespace) -> None:
    from emailsync.store import crm

    _, engine = context()
    count = crm.import_deals_csv(engine, Path(args.file))
    relink(engine)
    print(f"Imported {count} deals from {args.file}")


# -- threads --------------------------------------------------------------------------------


def _record_json(r: Any) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "reason": r.reason, "manual": r.manual}


def _summary_json(t: Any) -> dict[str, Any]:
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


def _threads_list(args: argparse.Namespace) -> None:
    from emailsync.store import conversations

    _, engine = context()
    viewer = user_id(engine, args.user)
    assert viewer is not None
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


def _threads_show(args: argparse.Namespace) -> None:
    from emailsync.errors import UsageError
    from emailsync.store import conversations

    _, engine = context()
    viewer = user_id(engine, args.user)
    assert viewer is not None
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


def _thread_action(args: argparse.Namespace) -> None:
    from emailsync.errors import UsageError
    from emailsync.store import conversations

    _, engine = context()
    actor = user_id(engine, args.user)
    assert actor is not None
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


def _threads_split(args: argparse.Namespace) -> None:
    import sqlalchemy as sa

    from emailsync.errors import UsageError
    from emailsync.store import conversations, threads
    from emailsync.store.tables import messages

    _, engine = context()
    actor = user_id(engine, args.user)
    with engine.begin() as conn:
        owners = set(
            conn.execute(
                sa.select(messages.c.thread_id).where(messages.c.id.in_(args.messages))
            ).scalars()
        )
        if len(owners) != 1 or None in owners:
            raise UsageError("Name messages of one thread")
        thread_id = owners.pop()
        if conversations.thread_owner(conn, thread_id) != actor:
            raise UsageError(f"Only the owner of thread {thread_id} can split it")
        new_id = threads.split_thread(conn, args.messages)
    print(f"Moved {len(args.messages)} messages from thread {thread_id} to new thread {new_id}")


def _threads_rebuild(args: argparse.Namespace) -> None:
    from emailsync.store import accounts as account_store
    from emailsync.store import threads

    _, engine = context()
    with engine.begin() as conn:
        account = account_store.find_account(conn, args.account)
        count = threads.rebuild_threads(conn, account.id)
    linked = relink(engine)
    print(f"Threaded {count} messages of {account.email} again; {linked} threads linked to deals")


def _messages_why(args: argparse.Namespace) -> None:
    import sqlalchemy as sa

    from emailsync.errors import UsageError
    from emailsync.store import conversations
    from emailsync.store.tables import accounts, messages

    _, engine = context()
    with reading(engine) as conn:
        viewer = user_id(engine, args.user)
        if viewer is None:
            viewer = conn.execute(
                sa.select(accounts.c.user_id)
                .join(messages, messages.c.account_id == accounts.c.id)
                .where(messages.c.id == args.message)
            ).scalar()
        if viewer is None:
            raise UsageError(f"No message {args.message}")
        lines = conversations.why(conn, viewer, args.message)
    if args.json:
        print_json(lines)
    else:
        print("\n".join(lines))


# -- blocking -------------------------------------------------------------------------------


def _block_add(args: argparse.Namespace) -> None:
    from emailsync.errors import UsageError
    from emailsync.store import blocking

    _, engine = context()
    uid = user_id(engine, args.user)
    assert uid is not None
    pattern = blocking.checked_pattern(args.pattern)
    with reading(engine) as conn:
        doomed = blocking.screened_messages(conn, uid, frozenset({pattern}))
    messages = sum(len(v) for v in doomed.values())
    if not args.yes and doomed:
        raise UsageError(
            f"Blocking {pattern} removes {messages} synced messages in {len(doomed)} threads. "
            f"Run again with --yes to confirm"
        )
    with engine.begin() as conn:
        removed = blocking.block(conn, uid, pattern)
    print(
        f"Blocked {pattern}: mail whose every other participant is blocked is not synced; "
        f"{removed} messages removed"
    )


def _block_remove(args: argparse.Namespace) -> None:
    from emailsync.errors import UsageError
    from emailsync.store import blocking

    _, engine = context()
    uid = user_id(engine, args.user)
    assert uid is not None
    with engine.begin() as conn:
        if not blocking.unblock(conn, uid, args.pattern):
            raise UsageError(f"{args.pattern} is not blocked")
    print(
        f"Unblocked {args.pattern}. Its past mail comes back with `emailsync sync ACCOUNT --rescan`"
    )


def _block_list(args: argparse.Namespace) -> None:
    from emailsync.store import blocking

    _, engine = context()
    uid = user_id(engine, args.user)
    assert uid is not None
    with reading(engine) as conn:
        found = sorted(blocking.patterns(conn, uid))
    if args.json:
        print_json(found)
    else:
        print("\n".join(found) if found else "Nothing is blocked")
    if not args.json:
        print(
            "\nA message is not synced when every participant other than you is blocked; "
            "a domain covers its subdomains.",
            file=sys.stderr,
        )


def register(sub: Any) -> None:
    orgs = sub.add_parser("orgs", help="CRM organisations").add_subparsers(metavar="ACTION")
    p = orgs.add_parser("add", help="add an organisation (or domains to one)")
    p.add_argument("name")
    p.add_argument("--domain", action="append", default=[], help="email domain (repeatable)")
    p.add_argument("--owner", metavar="USER_EMAIL")
    p.add_argument(
        "--visibility",
        choices=["company", "owner"],
        default=None,
        help="company (default for a new one) or owner",
    )
    p.set_defaults(handler=_orgs_add)
    p = orgs.add_parser("list", help="list organisations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_orgs_list)
    p = orgs.add_parser("delete", help="delete an organisation")
    p.add_argument("id", type=int)
    p.set_defaults(handler=_orgs_delete)
    p = orgs.add_parser("import", help="import organisations from CSV (name,domains)")
    p.add_argument("file")
    p.set_defaults(handler=_orgs_import)

    deals = sub.add_parser("deals", help="CRM deals").add_subparsers(metavar="ACTION")
    p = deals.add_parser("add", help="add a deal")
    p.add_argument("title")
    p.add_argument("--value", default="0")
    p.add_argument("--currency", default="EUR")
    p.add_argument("--person", metavar="EMAIL", help="the contact, by one of their addresses")
    p.add_argument("--org", metavar="NAME")
    p.add_argument("--owner", metavar="USER_EMAIL")
    p.add_argument("--status", choices=["open", "won", "lost"], default="open")
    p.add_argument("--visibility", choices=["company", "owner"], default="company")
    p.set_defaults(handler=_deals_add)
    p = deals.add_parser("update", help="change a deal (e.g. --status won)")
    p.add_argument("id", type=int)
    p.add_argument("--title")
    p.add_argument("--value")
    p.add_argument("--status", choices=["open", "won", "lost"])
    p.add_argument("--person", metavar="EMAIL")
    p.add_argument("--org", metavar="NAME")
    p.add_argument("--visibility", choices=["company", "owner"])
    p.set_defaults(handler=_deals_update)
    p = deals.add_parser("list", help="list deals")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_deals_list)
    p = deals.add_parser("delete", help="delete a deal")
    p.add_argument("id", type=int)
    p.set_defaults(handler=_deals_delete)
    p = deals.add_parser("import", help="import deals (title,value,status,person_email,org)")
    p.add_argument("file")
    p.set_defaults(handler=_deals_import)

    threads = sub.add_parser("threads", help="conversations").add_subparsers(metavar="ACTION")
    p = threads.add_parser("list", help="threads a user may see, newest first")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.add_argument("--search")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_threads_list)
    p = threads.add_parser("show", help="one thread with its messages")
    p.add_argument("thread", type=int)
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_threads_show)
    p = threads.add_parser("share", help="set a thread private or shared (owner only)")
    p.add_argument("thread", type=int)
    p.add_argument("sharing", choices=["private", "shared"])
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.set_defaults(handler=_thread_action, action="share")
    for action in ("link", "unlink"):
        p = threads.add_parser(action, help=f"{action} a thread and a person, org or deal")
        p.add_argument("thread", type=int)
        p.add_argument("--user", required=True, metavar="EMAIL")
        p.add_argument("--person", type=int, metavar="ID")
        p.add_argument("--org", type=int, metavar="ID")
        p.add_argument("--deal", type=int, metavar="ID")
        p.set_defaults(handler=_thread_action, action=action)
    p = threads.add_parser("split", help="move messages into a thread of their own")
    p.add_argument("messages", type=int, nargs="+", metavar="MESSAGE")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.set_defaults(handler=_threads_split)
    p = threads.add_parser("rebuild", help="thread an account's mail again from scratch")
    p.add_argument("account", metavar="ACCOUNT")
    p.set_defaults(handler=_threads_rebuild)

    block = sub.add_parser("block", help="a user's blocked addresses and domains")
    block_sub = block.add_subparsers(metavar="ACTION")
    p = block_sub.add_parser("add", help="block an address or domain (removes its mail)")
    p.add_argument("pattern", metavar="EMAIL_OR_DOMAIN")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.add_argument("--yes", action="store_true", help="confirm removing the synced mail")
    p.set_defaults(handler=_block_add)
    p = block_sub.add_parser("remove", help="unblock")
    p.add_argument("pattern", metavar="EMAIL_OR_DOMAIN")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.set_defaults(handler=_block_remove)
    p = block_sub.add_parser("list", help="list blocked addresses and domains")
    p.add_argument("--user", required=True, metavar="EMAIL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_block_list)


def register_messages(messages: Any) -> None:
    p = messages.add_parser("why", help="every link of a message, with its reason")
    p.add_argument("message", type=int, metavar="MESSAGE")
    p.add_argument("--user", metavar="EMAIL", help="read as this user (default: the owner)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_messages_why)
