"""Fast MIME structure scan: raw bytes → the compat32 `Message` tree the stdlib would build.

Why: `email.feedparser` walks every line of every part, attachments included, which was
about a third of the sync's CPU on attachment-heavy mail. This scanner finds the same
structure with `bytes.find`: header blocks are split at their first blank line, part
boundaries (RFC 2046 §5.1.1) are found by searching for `--boundary` and checking that it
starts a line, and attachment bodies are never split into lines or decoded.

What it builds is deliberately the stdlib's own object: a tree of compat32 `Message`
objects whose headers are set exactly as `FeedParser._parse_headers` sets them (the same
`header_source_parse`), so Content-Type, boundary, charset and filename parameters are
read by the stdlib's own code. Only leaf payloads are left out: `Scan` keeps their
(start, end) offsets in the raw bytes, loads the text of the parts that are decoded, and
estimates the others' size from the offsets.

The contract is "the same result as `BytesParser(policy=compat32)` or nothing": whenever
the stdlib would record a defect, or behave in a way not reproduced here, `scan_message`
returns None and the caller uses the stdlib. That covers: no blank line after a header
block; a header block line the feed parser would not take as a header (missing
separator, leading continuation, `:` without a name, a misplaced `From ` line); bare CR
line ends in a header block or before a boundary; multiparts without a usable boundary,
without a first or closing boundary line, with repeated boundary lines or with an invalid
Content-Transfer-Encoding; message/* parts (their size is their serialised length) and
multipart/digest (its children default to message/rfc822); and more than `_MAX_DEPTH`
levels or `_MAX_PARTS` parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from itertools import pairwise

from emailsync.mime.params import boundary as content_boundary
from emailsync.mime.params import content_type

__all__ = ["Scan", "scan_message"]

_MAX_DEPTH = 32
_MAX_PARTS = 500

# email.feedparser.headerRE: a line the feed parser keeps reading as part of a header block.
_HEADER_LINE = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")
# One field as `header_source_parse` splits it: name (feedparser.headerRE's characters,
# at least one), colon, blanks dropped, then the value with its continuation lines.
_FIELD = re.compile(r"([\041-\071\073-\176]+):[ \t]*([^\n]*\n(?:[ \t][^\n]*\n)*)")
_HEADER_END = re.compile(rb"\n\r?\n")  # the blank line after a header block (no bare CR)
# What `str.split()` drops from a payload decoded as ASCII with surrogate escapes: the
# ASCII whitespace, including the separators \x1c-\x1f.
_WHITESPACE = bytes(c for c in range(128) if chr(c).isspace())
_CHUNK = 1 << 16  # whitespace is counted per chunk, so no megabyte-sized copies
_CR, _LF, _SP, _TAB, _EQ = 13, 10, 32, 9, 61
_MULTIPART_CTES = ("7bit", "8bit", "binary")
_source_parse = policy.compat32.header_source_parse


class _Unsure(Exception):
    """The scanner cannot promise the stdlib's result for this message."""


@dataclass(frozen=True, slots=True)
class Scan:
    """A scanned message: the `Message` tree plus where each leaf's payload lies in `raw`."""

    raw: bytes
    root: Message
    spans: dict[int, tuple[int, int]]  # id(leaf) → payload [start, end) in raw

    def load_payload(self, part: Message) -> None:
        """Set a leaf's payload to the text the feed parser would have stored."""
        start, end = self.spans[id(part)]
        part.set_payload(self.raw[start:end].decode("ascii", "surrogateescape"))

    def encoded_size(self, part: Message, base64: bool) -> int | None:
        """`parse._encoded_size` computed on the offsets, without copying the payload.

        The payload text maps one byte to one character, so its length is `end - start`;
        for base64, the significant characters are those left by `str.split()`, and the
        padding is the run of `=` at the end once whitespace is ignored. None when the
        payload has 8-bit bytes: `Message.get_payload()` then decodes it with the part's
        charset, which only the stdlib code reproduces.
        """
        start, end = self.spans[id(part)]
        raw = self.raw
        compact = 0
        for pos in range(start, end, _CHUNK):
            chunk = raw[pos : min(pos + _CHUNK, end)]
            if not chunk.isascii():
                return None
            if base64:
                compact += len(chunk.translate(None, _WHITESPACE))
        if not base64:
            return end - start
        return max(0, compact * 3 // 4 - _padding(raw, start, end))


def _padding(raw: bytes, start: int, end: int) -> int:
    """min(2, number of trailing `=` once whitespace is removed) for raw[start:end]."""
    found = 0
    pos = end
    while pos > start and found < 2:
        byte = raw[pos - 1]
        if byte == _EQ:
            found += 1
        elif byte not in _WHITESPACE:
            break
        pos -= 1
        if end - pos > 4096:  # absurd trailing whitespace: do it the plain way
            compact = raw[start:end].translate(None, _WHITESPACE)
            return min(2, len(compact) - len(compact.rstrip(b"=")))
    return found


def scan_message(raw: bytes) -> Scan | None:
    """The compat32 structure of `raw`, or None when only the stdlib parser can be trusted."""
    scanner = _Scanner(raw)
    try:
        root = scanner.part(0, len(raw), 0, nested=False)
    except _Unsure:
        return None
    return Scan(raw=raw, root=root, spans=scanner.spans)


def _plain_fields(text: str) -> list[tuple[str, str]] | None:
    """The (name, value) pairs `header_source_parse` makes of a header block (lines
    ending in "\n") that is fields only, each a name, a colon and its continuation
    lines; None for anything else (a `From ` line, a line without a name), which the
    line-by-line reading in `_headers` then decides. One regex pass instead of a loop
    over lines: header blocks are most of what the scan reads."""
    fields = []
    pos = 0
    for field in _FIELD.finditer(text):
        if field.start() != pos:
            return None
        fields.append((field.group(1), field.group(2).rstrip("\r\n")))
        pos = field.end()
    return fields if pos == len(text) else None


class _Scanner:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.spans: dict[int, tuple[int, int]] = {}
        self.count = 0

    def part(self, start: int, end: int, depth: int, *, nested: bool) -> Message:
        """The part whose lines are raw[start:end] (as `FeedParser._parsegen` reads them)."""
        self.count += 1
        if self.count > _MAX_PARTS or depth > _MAX_DEPTH:
            raise _Unsure
        msg = Message(policy=policy.compat32)
        body = self._headers(msg, start, end)
        ctype = content_type(msg)
        maintype = ctype.partition("/")[0]
        if maintype == "message" or ctype == "multipart/digest":
            raise _Unsure
        if maintype == "multipart":
            self._multipart(msg, body, end, depth)
            return msg
        if nested:  # RFC 2046: the line end before a boundary belongs to the boundary
            if self.raw.endswith(b"\r\n", body, end):
                end -= 2
            elif self.raw.endswith(b"\n", body, end):
                end -= 1
        self.spans[id(msg)] = (body, end)
        return msg

    def _headers(self, msg: Message, start: int, end: int) -> int:
        """Set the headers from the block at raw[start:]; return where the body starts."""
        raw = self.raw
        if raw.startswith(b"\n", start, end):
            return start + 1
        if raw.startswith(b"\r\n", start, end):
            return start + 2
        found = _HEADER_END.search(raw, start, end)
        if found is None:  # headers run into the boundary or EOF
            raise _Unsure
        block = raw[start : found.start() + 1]
        if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
            raise _Unsure  # a bare CR ends a line for the feed parser
        text = block.decode("ascii", "surrogateescape")
        fields = _plain_fields(text)
        if fields is not None:
            for name, value in fields:
                msg.set_raw(name, value)
            return found.end()
        lines = text.split("\n")
        lines.pop()  # the block ends with "\n"
        current: list[str] = []
        for index, text in enumerate(lines):
            line = text + "\n"
            if line[0] in " \t":
                if not current:
                    raise _Unsure  # FirstHeaderLineIsContinuationDefect
                current.append(line)
                continue
            if current:
                msg.set_raw(*_source_parse(current))
                current = []
            if line.startswith("From "):
                if index:
                    raise _Unsure  # MisplacedEnvelopeHeaderDefect or a body line
                msg.set_unixfrom(line[:-2] if line.endswith("\r\n") else line[:-1])
                continue
            if not _HEADER_LINE.match(line) or line.startswith(":"):
                raise _Unsure  # MissingHeaderBodySeparatorDefect / InvalidHeaderDefect
            current = [line]
        if current:
            msg.set_raw(*_source_parse(current))
        return found.end()

    def _multipart(self, msg: Message, start: int, end: int, depth: int) -> None:
        cte = str(msg.get("content-transfer-encoding", "8bit")).lower()
        if cte not in _MULTIPART_CTES:
            raise _Unsure  # InvalidMultipartContentTransferEncodingDefect
        boundary = content_boundary(msg)
        if not boundary or not boundary.isascii() or "\r" in boundary or "\n" in boundary:
            raise _Unsure
        lines = self._boundary_lines(b"--" + boundary.encode("ascii"), start, end)
        if not lines or lines[0][2] or not lines[-1][2]:
            raise _Unsure  # Start- or CloseBoundaryNotFoundDefect
        for (_, child_start, _), (child_end, _, _) in pairwise(lines):
            if child_start == child_end:
                raise _Unsure  # repeated boundary lines: the feed parser skips them
            msg.attach(self.part(child_start, child_end, depth + 1, nested=True))

    def _boundary_lines(
        self, delimiter: bytes, start: int, end: int
    ) -> list[tuple[int, int, bool]]:
        """(line start, line end, is close-delimiter) of the boundary lines in raw[start:end],
        up to and including the first close-delimiter."""
        raw = self.raw
        out: list[tuple[int, int, bool]] = []
        pos = start
        while True:
            at = raw.find(delimiter, pos, end)
            if at < 0:
                return out
            pos = at + 1
            if at > start:
                before = raw[at - 1]
                if before == _CR:
                    raise _Unsure  # "\r--boundary": a line start only for the feed parser
                if before != _LF:
                    continue
            # feedparser.boundaryendRE: optional "--", blanks, then the line end or EOF
            tail = at + len(delimiter)
            close = raw.startswith(b"--", tail, end)
            if close:
                tail += 2
            while tail < end and raw[tail] in (_SP, _TAB):
                tail += 1
            if tail == end:
                line_end = end
            elif raw[tail] == _LF:
                line_end = tail + 1
            elif raw[tail] == _CR:
                if not raw.startswith(b"\n", tail + 1, end):
                    raise _Unsure
                line_end = tail + 2
            else:
                continue
            out.append((at, line_end, close))
            if close:
                return out
            if len(out) > _MAX_PARTS:
                raise _Unsure
            pos = line_end
