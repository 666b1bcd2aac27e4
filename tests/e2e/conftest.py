"""End to end: the product (web app + sync supervisor, as run_product wires them) served
by uvicorn on a loopback port, driven by Playwright in Debian's Chromium, syncing from
the real Dovecot. Screenshots of every step go to test-artifacts/e2e/."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.serve import Supervisor
from emailsync.store.db import open_database
from emailsync.web.app import create_app
from support.dovecot import DovecotServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@dataclass
class Product:
    url: str
    settings: Settings
    engine: sa.Engine
    supervisor: Supervisor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def product(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dovecot: DovecotServer
) -> Iterator[Product]:
    import uvicorn

    monkeypatch.setenv("EMAILSYNC_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("EMAILSYNC_CA_FILE", dovecot.cafile)
    monkeypatch.delenv("EMAILSYNC_SECRET_KEYS", raising=False)
    monkeypatch.delenv("EMAILSYNC_DATABASE_URL", raising=False)
    settings = Settings.from_environment()
    engine = open_database(settings)
    supervisor = Supervisor(settings, engine, poll_seconds=5, tick_seconds=0.3)
    app = create_app(settings, engine, wake=supervisor.wake)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    supervisor.start()
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Product(f"http://127.0.0.1:{port}", settings, engine, supervisor)
    finally:
        server.should_exit = True
        thread.join(10)
        supervisor.stop()
        engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def shots() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
