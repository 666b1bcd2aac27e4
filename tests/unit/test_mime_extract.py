"""Downloading an attachment reads the raw message again (mime/extract.py). It must find
the part the sync recorded (mime/parse.py): both walk `parse.attachment_parts`, and these
tests hold the two together over every corpus message."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from emailsync.mime.extract import AttachmentData, StoredAttachment, find_attachment
from emailsync.mime.params import content_type
from emailsync.mime.parse import attachment_parts, message_tree, parse_message
from support.mail import make_message

TESTS = Path(__file__).resolve().parents[1]
# the project's own corpus, and the shared one beside the checkout (wherever it is above)
CORPORA = (TESTS / "corpus", *(up / "shared" / "corpus" for up in TESTS.parents[:3]))


def _corpus() -> list[Path]:
    return sorted(
        p
        for folder in CORPORA
        if folder.is_dir()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix not in (".tsv", ".md", ".py")
    )


def _records(raw: bytes) -> list[StoredAttachment]:
    return [
        StoredAttachment(a.filename, a.content_type, a.size, a.content_id, a.inline)
        for a in parse_message(raw).attachments
    ]


def test_the_corpus_is_there() -> None:
    assert _corpus(), f"no corpus message in {', '.join(map(str, CORPORA))}"


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_every_recorded_attachment_is_found_again_in_the_raw_message(path: Path) -> None:
    raw = path.read_bytes()
    records = _records(raw)
    parts = attachment_parts(message_tree(raw))
    assert [content_type(p) for p in parts] == [r.content_type for r in records]
    for index, record in enumerate(records):
        found = find_attachment(raw, records, index)
        assert found is not None, f"attachment {index} ({record.filename}) not found"
        assert found.filename == record.filename
        payload = parts[index].get_payload(decode=True)
        assert found.data == (payload if isinstance(payload, bytes) else found.data)


def test_an_attachment_is_found_by_its_index_and_not_past_the_last() -> None:
    raw = make_message(attachment=("report.pdf", b"%PDF-1.4 data"))
    records = _records(raw)
    assert [r.filename for r in records] == ["report.pdf"]
    found = find_attachment(raw, records, 0)
    assert found is not None and found.data == b"%PDF-1.4 data"
    assert found.content_type == records[0].content_type
    assert find_attachment(raw, records, 1) is None
    assert find_attachment(b"not a message at all", records, 0) is None


def test_a_part_that_moved_is_found_by_its_content_id() -> None:
    """Should the walk ever order the parts differently from the record, the Content-ID
    the sync recorded still names the right part."""
    msg = EmailMessage()
    msg["Subject"] = "Logos"
    msg.set_content("See the logos.")
    for name, data in (("a.png", b"first"), ("b.png", b"second")):
        msg.add_attachment(data, maintype="image", subtype="png", filename=name, cid=f"<{name}@x>")
    raw = msg.as_bytes()
    first, second = _records(raw)
    assert (first.content_id, second.content_id) == ("a.png@x", "b.png@x")
    swapped = [second, first]
    assert find_attachment(raw, swapped, 0) == AttachmentData("b.png", "image/png", b"second")
    assert find_attachment(raw, swapped, 1) == AttachmentData("a.png", "image/png", b"first")
