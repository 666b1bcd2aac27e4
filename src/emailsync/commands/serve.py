"""`emailsync serve`: the product, web app and sync workers in one process."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from emailsync.commands.common import context
from emailsync.serve import run_product


def register(sub: Any) -> None:
    s = sub.add_parser("serve", help="run the product: web app and sync workers")
    s.add_argument("--host", default="127.0.0.1", help="address the web app listens on")
    s.add_argument("--port", type=int, default=8025)
    s.add_argument("--poll", type=float, default=60.0, help="seconds between passes")
    s.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> None:
    settings, engine = context()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_product(settings, engine, host=args.host, port=args.port, poll_seconds=args.poll)
