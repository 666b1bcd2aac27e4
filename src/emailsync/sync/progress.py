"""How a sync tells the world how far it got (CLI progress bar, later the web UI)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def folder_started(self, folder: str, total: int) -> None: ...
    def advanced(self, folder: str, count: int) -> None: ...
    def folder_finished(self, folder: str) -> None: ...


class SilentProgress:
    def folder_started(self, folder: str, total: int) -> None:
        pass

    def advanced(self, folder: str, count: int) -> None:
        pass

    def folder_finished(self, folder: str) -> None:
        pass
