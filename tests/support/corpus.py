"""The test corpora of odd and broken messages: ours, and the shared one when present.

tests/corpus/ is the project's own (written for it, described in its README) and is
always there. The shared corpus (real-world files from mikel/mail and CPython) lives
beside the checkout in ../shared/corpus, or where EMAILSYNC_SHARED_CORPUS points; a
lone clone has none, and the tests over it are then skipped, not failed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
OWN_CORPUS = TESTS_DIR / "corpus"
SHARED_CORPUS = Path(
    os.environ.get("EMAILSYNC_SHARED_CORPUS") or TESTS_DIR.parents[1] / "shared" / "corpus"
)
CORPORA = {"own": OWN_CORPUS, "shared": SHARED_CORPUS}
SHARED_ABSENT = f"the shared corpus is not at {SHARED_CORPUS} (a lone clone has none)"


def corpus_files(corpus: Path) -> list[Path]:
    """The messages of a corpus (not its README or manifest); [] when it is absent."""
    if not corpus.is_dir():
        return []
    return sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix in (".eml", ".txt"))


def corpus_params() -> list[object]:
    """Every message of both corpora as pytest params ("own/x.eml", "shared/y.eml"); the
    shared part is one skipped param when it is absent, so the skip shows in reports."""
    params: list[object] = [pytest.param(p, id=f"own/{p.name}") for p in corpus_files(OWN_CORPUS)]
    shared = corpus_files(SHARED_CORPUS)
    if not shared:
        return [*params, pytest.param(None, id="shared", marks=pytest.mark.skip(SHARED_ABSENT))]
    return [*params, *(pytest.param(p, id=f"shared/{p.name}") for p in shared)]


def corpus_dirs() -> list[object]:
    """Both corpus directories as pytest params, the shared one skipped when absent."""
    shared_marks = () if corpus_files(SHARED_CORPUS) else (pytest.mark.skip(SHARED_ABSENT),)
    return [
        pytest.param(OWN_CORPUS, id="own"),
        pytest.param(SHARED_CORPUS, id="shared", marks=shared_marks),
    ]


needs_shared = pytest.mark.skipif(not corpus_files(SHARED_CORPUS), reason=SHARED_ABSENT)
