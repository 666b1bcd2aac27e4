"""Raw RFC 5322 bytes → `ParsedMessage`: the only module that touches `email.message` objects.

Contract: `parse_message` and `parse_header_summary` never raise. A message is synced
whatever shape it is in; what could not be read becomes an empty field plus a note in
`defects`, and the raw bytes are stored beside the result so it can be re-parsed later.

Robustness: headers are read from the parser's *raw* values (`raw_items`), decoded here
(8-bit bytes as UTF-8 per RFC 6532, else cp1252), and only then handed to the stdlib's
structured parsers inside try/except, so one pathological header cannot sink the message.

Speed: this runs on every synced message, so attachment payloads are never decoded. Their
size is estimated from the transfer-encoded text; only the chosen text/plain and text/html
parts are decoded. The structure is first taken from `scan.scan_message`, which builds the
same compat32 tree as the stdlib's feed parser without walking attachment bodies line by
line (about 10x faster on attachment-heavy mail); whenever it is unsure it returns None and
the stdlib parser is used. Everything after the structure is shared by both paths, so the
two give the same `ParsedMessage`; tests/unit/test_mime_fast.py checks that.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from emailsync.domain.model import (
    Address,
    Attachment,
    HeaderSummary,
    ParsedMessage,
    Participants,
)
from emailsync.mime.addresses import decode_words, parse_address_header
from emailsync.mime.fingerprint import fingerprint
from emailsync.mime.html_text import text_from_html
from emailsync.mime.params import charset as body_charset
from emailsync.mime.params import content_type, first_raw
from emailsync.mime.scan import Scan, scan_message

__all__ = ["parse_header_summary", "parse_message"]

# Two parsers, on purpose. The MIME *structure* is parsed with compat32: under
# policy.default the feed parser re-parses Content-Type through the header registry every
# time it looks at a part, which made parsing ~8x slower on the corpus (950 µs vs 125 µs per
# message), and compat32's lenient parameter reading also finds an unquoted
# `boundary=----=_NextPart_...` that policy.default misreads. The *headers* we use are then
# parsed with policy.default's header registry (`_HEADER_FACTORY`), which is where its value
# lies: RFC 2047/2231 decoding, RFC 5322 address parsing and defect reporting. The
# policy.default parser is kept as a second opinion for messages whose boundaries compat32
# could not find.
_PARSER = BytesParser(policy=policy.compat32)
_STRICT_PARSER = BytesParser(policy=policy.default)
_HEADER_FACTORY = policy.default.header_factory

# (ParsedMessage field, header name as written in defect notes)
_ADDRESS_FIELDS = (
    ("from_", "From"),
    ("sender", "Sender"),
    ("reply_to", "Reply-To"),
    ("to", "To"),
    ("cc", "Cc"),
    ("bcc", "Bcc"),
)

_MSG_ID = re.compile(r"<([^<>]*)>")
_PARAM = re.compile(r';\s*([A-Za-z0-9_.*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')
_MAX_DEPTH = 64  # deeper MIME nesting is treated as opaque leaves
_MAX_PARTS = 2000  # bound the work a hostile message can cause

# Extensions for generated attachment names. A fresh MimeTypes() holds only Python's
# built-in table, so names do not depend on the host's /etc/mime.types.
_MIME_TYPES = mimetypes.MimeTypes()
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "image/jpeg": ".jpg",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "text/calendar": ".ics",
    "application/octet-stream": ".bin",
    "application/ms-tnef": ".dat",
}


# --- entry points --------------------------------------------------------------------------


def parse_message(raw: bytes, *, html: bool = True) -> ParsedMessage:
    """Parse a full message. Never raises: worst case is an empty result with defects.

    `html=False`: when the message has a text body, its HTML body is not decoded and
    stays "" (whatever decoding it would have noted is not noted either)."""
    raw = bytes(raw)
    print_ = fingerprint(raw)
    fast = _parse_fast(raw, html, print_)
    return fast if fast is not None else _parse_with_stdlib(raw, html, print_)


def parse_safely(raw: bytes) -> ParsedMessage:
    """What the sync stores: `parse_message` without the HTML body beside a text body
    (the store keeps text for search and snippets; the reader parses the raw message
    again for the HTML, services/inbox.py), and should the parser itself ever fail, a
    message that keeps the failure as its defect: the sync stores it (with its raw
    bytes) and goes on. Leaving the HTML out is a tenth of the parse and half of what
    a fetcher process sends back on a big sync."""
    try:
        return parse_message(raw, html=False)
    except Exception as exc:
        return _empty_message((f"parser failed: {type(exc).__name__}",), fingerprint(raw))


def parse_header_summary(header_bytes: bytes) -> HeaderSummary:
    """Parse the headers-only FETCH (Message-ID and address headers). Never raises."""
    try:
        msg = _PARSER.parsebytes(bytes(header_bytes), headersonly=True)
        headers = _raw_headers(msg)
        participants, _defects = _participants(headers)
        return HeaderSummary(message_id=_message_id(headers), participants=participants)
    except Exception:
        return HeaderSummary(message_id="", participants=Participants())


# --- top level -----------------------------------------------------------------------------


def _empty_message(defects: tuple[str, ...], print_: str = "") -> ParsedMessage:
    return ParsedMessage(
        message_id="",
        in_reply_to="",
        references=(),
        date=None,
        subject="",
        participants=Participants(),
        text_body="",
        html_body="",
        attachments=(),
        defects=defects,
        fingerprint=print_,
    )


def _parse_fast(raw: bytes, html: bool = True, print_: str | None = None) -> ParsedMessage | None:
    """The structure from `scan.scan_message`; None whenever the stdlib path must decide.
    `print_`: the fingerprint, when the caller has it already."""
    try:
        print_ = fingerprint(bytes(raw)) if print_ is None else print_
        scan = scan_message(bytes(raw))
        if scan is None:
            return None
        return _parsed(
            scan.root,
            [],
            size_of=lambda part: _scanned_size(scan, part),
            scan=scan,
            html=html,
            print_=print_,
        )
    except Exception:  # whatever went wrong, the stdlib path gets to say it
        return None


def _parse_with_stdlib(raw: bytes, html: bool = True, print_: str | None = None) -> ParsedMessage:
    """The structure from the stdlib's feed parser: the reference the fast path must match."""
    print_ = fingerprint(bytes(raw)) if print_ is None else print_
    try:
        return _parse_message(bytes(raw), html, print_)
    except Exception as exc:  # the contract is "never raise"; say what happened instead
        return _empty_message((f"parse failed: {type(exc).__name__}",), print_)


def _parse_message(raw: bytes, html: bool = True, print_: str = "") -> ParsedMessage:
    notes: list[str] = []
    try:
        msg = _PARSER.parsebytes(raw)
    except Exception as exc:  # e.g. RecursionError on absurd nesting: keep the headers
        notes.append(f"MIME structure unparseable: {type(exc).__name__}")
        msg = _PARSER.parsebytes(raw, headersonly=True)
    else:
        msg = _second_opinion_if_broken(raw, msg, notes)
    return _parsed(msg, notes, size_of=_encoded_size, html=html, print_=print_)


def _parsed(
    msg: Message,
    notes: list[str],
    size_of: Callable[[Message], int],
    scan: Scan | None = None,
    html: bool = True,
    print_: str = "",
) -> ParsedMessage:
    """Everything after the structure: shared by both paths, so they cannot drift apart.

    With a `scan`, leaf payloads are not loaded yet: only the bodies decoded are.
    """
    headers = _raw_headers(msg)
    participants, address_defects = _participants(headers)
    notes.extend(address_defects)

    date = _date(headers, notes)
    subject = _subject(headers, notes)

    text_part, html_part = _find_bodies(msg)
    # without `html`, an HTML body beside a text body is left undecoded (still a body:
    # no attachment either way)
    html_wanted = html_part if html or text_part is None else None
    if scan is not None:
        for part in (text_part, html_wanted):
            if part is not None:
                scan.load_payload(part)
    text_body = _decode_body(text_part, notes) if text_part is not None else ""
    html_body = _decode_body(html_wanted, notes) if html_wanted is not None else ""
    if text_part is None and html_body:  # search and snippets need text: take the HTML's
        text_body = text_from_html(html_body)
    attachments: list[Attachment] = []
    for part in _attachment_leaves(msg, text_part, html_part):
        attachments.append(_attachment(part, len(attachments) + 1, size_of(part), notes))

    refs = _msg_ids(" ".join(headers.get("references", [])))  # a repeated header: keep all
    in_reply_to = _msg_ids(_first(headers, "in-reply-to"))
    defects = [*_part_defects(msg), *notes]
    return ParsedMessage(
        message_id=_message_id(headers),
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=refs,
        date=date,
        subject=subject,
        participants=participants,
        text_body=text_body,
        html_body=html_body,
        attachments=tuple(attachments),
        defects=tuple(dict.fromkeys(defects)),
        fingerprint=print_,
    )


def message_tree(raw: bytes) -> Message:
    """The MIME structure of the stdlib path (the reference the fast path matches), for
    reading a part's payload again (mime/extract.py). Never raises: worst case, headers."""
    try:
        return _second_opinion_if_broken(raw, _PARSER.parsebytes(raw), [])
    except Exception:
        return _PARSER.parsebytes(raw, headersonly=True)


def attachment_parts(msg: Message) -> list[Message]:
    """The leaves recorded as a message's attachments, in their order: every leaf but the
    text and HTML bodies. mime/extract.py walks the same list, so a record's index names
    its part."""
    text_part, html_part = _find_bodies(msg)
    return list(_attachment_leaves(msg, text_part, html_part))


def _attachment_leaves(
    msg: Message, text_part: Message | None, html_part: Message | None
) -> Iterator[Message]:
    body_ids = {id(p) for p in (text_part, html_part) if p is not None}
    return (part for part in _leaves(msg) if id(part) not in body_ids)


def _broken_multiparts(msg: Message) -> int:
    """Multipart parts whose boundary was never found (their payload stayed a string)."""
    return sum(1 for part in _leaves(msg) if content_type(part).startswith("multipart/"))


def _second_opinion_if_broken(raw: bytes, msg: Message, notes: list[str]) -> Message:
    broken = _broken_multiparts(msg)
    if not broken:
        return msg
    try:
        other = _STRICT_PARSER.parsebytes(raw)
    except Exception:
        return msg
    if _broken_multiparts(other) < broken:
        notes.append("MIME boundaries found only by the policy.default parser")
        return other
    return msg


# --- headers -------------------------------------------------------------------------------


def _unraw(value: object, hint: str = "") -> str:
    """Turn a raw header value (8-bit bytes as surrogate escapes, folded) into one line of text.

    8-bit bytes are read as UTF-8 (RFC 6532); failing that as `hint` (the message's body
    charset, which is what old mailers used for raw headers), then cp1252.
    """
    if not isinstance(value, str):
        value = str(value)
    if not value.isascii():
        data = value.encode("utf-8", "surrogateescape")
        for charset in ("utf-8", hint):
            if not charset:
                continue
            try:
                value = data.decode(charset)
                break
            except (LookupError, UnicodeError, ValueError):
                continue
        else:
            value = data.decode("cp1252", "replace")
    return value.replace("\r", "").replace("\n", "")  # unfold: drop every CR and LF


def _header_charset_hint(msg: Message) -> str:
    charset = _params(_raw_part_header(msg, "content-type")).get("charset", "").strip().lower()
    return charset if charset and _codec_exists(charset) else ""


def _raw_headers(msg: Message) -> dict[str, list[str]]:
    """Header name (lowercase) → decoded raw values, in order. No structured parsing yet."""
    headers: dict[str, list[str]] = {}
    hint = ""
    raw_items = list(msg.raw_items())
    if not all(str(value).isascii() for _name, value in raw_items):
        hint = _header_charset_hint(msg)
    for name, value in raw_items:
        headers.setdefault(str(name).strip().lower(), []).append(_unraw(value, hint))
    return headers


def _first(headers: dict[str, list[str]], name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""


def _msg_ids(value: str) -> tuple[str, ...]:
    """Message ids in order, without <>; junk between them is ignored, duplicates dropped."""
    ids = ("".join(m.split()) for m in _MSG_ID.findall(value))
    return tuple(dict.fromkeys(i for i in ids if i))


def _message_id(headers: dict[str, list[str]]) -> str:
    value = _first(headers, "message-id").strip()
    ids = _msg_ids(value)
    if ids:
        return ids[0]
    # Some senders omit the brackets; take the first token, as long as it is one.
    token = value.split()[0] if value.split() else ""
    return token.strip("<>")


def _participants(headers: dict[str, list[str]]) -> tuple[Participants, list[str]]:
    defects: list[str] = []
    fields: dict[str, tuple[Address, ...]] = {}
    for attr, label in _ADDRESS_FIELDS:
        values = headers.get(label.lower(), [])
        found: list[Address] = []
        seen: set[str] = set()
        for value in values:
            addresses, notes = parse_address_header(label, value)
            defects.extend(notes)
            for a in addresses:
                if a.email not in seen:
                    seen.add(a.email)
                    found.append(a)
        fields[attr] = tuple(found)
    return Participants(**fields), defects


def _date(headers: dict[str, list[str]], notes: list[str]) -> datetime | None:
    value = _first(headers, "date").strip()
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is None:  # "-0000" or no zone: RFC 5322 says UTC is the best guess
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except Exception:  # ValueError, TypeError, OverflowError from odd dates
        notes.append("unparseable Date")
        return None


def _subject(headers: dict[str, list[str]], notes: list[str]) -> str:
    value = _first(headers, "subject")
    if not value:
        return ""
    if value.isascii() and value.isprintable() and "=?" not in value:
        return " ".join(value.split())  # what the header registry makes of plain text
    try:
        header = _HEADER_FACTORY("subject", value)
        text = str(header)
        notes.extend(type(d).__name__ for d in header.defects)
    except Exception:
        notes.append("unparseable Subject")
        text = decode_words(value)
    return " ".join(text.split())


# --- MIME structure ------------------------------------------------------------------------


def _raw_part_header(part: Message, name: str) -> str:
    value = first_raw(part, name)
    return _unraw(value) if value is not None else ""


def _disposition(part: Message) -> str:
    value = _raw_part_header(part, "content-disposition")
    return value.split(";", 1)[0].strip().lower()


def _children(part: Message) -> list[Message]:
    """Sub-parts of a real multipart; anything else (including message/*) is a leaf."""
    if content_type(part).startswith("multipart/") and part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            return [p for p in payload if isinstance(p, Message)]
    return []


def _leaves(msg: Message) -> Iterator[Message]:
    """Leaf parts in document order, not descending into attached messages. Iterative."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    count = 0
    while stack and count < _MAX_PARTS:
        part, depth = stack.pop()
        count += 1
        children = _children(part) if depth < _MAX_DEPTH else []
        if children:
            stack.extend((child, depth + 1) for child in reversed(children))
        elif not content_type(part).startswith("multipart/") or not part.is_multipart():
            yield part


def _find_bodies(msg: Message) -> tuple[Message | None, Message | None]:
    """First inline text/plain and text/html parts, found the way `EmailMessage.get_body` looks.

    Reimplemented because the structure comes from compat32 (no `get_body`), and because
    `get_body` breaks on malformed trees (a multipart with a string payload) where we must
    not raise. Like `get_body` it skips attachments and follows multipart/related's root.
    """
    plain: Message | None = None
    html: Message | None = None
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < _MAX_PARTS and (plain is None or html is None):
        part, depth = stack.pop()
        seen += 1
        if _disposition(part) == "attachment":
            continue
        ctype = content_type(part)
        if ctype == "text/plain":
            plain = plain or part
        elif ctype == "text/html":
            html = html or part
        elif ctype.startswith("multipart/") and depth < _MAX_DEPTH:
            children = _children(part)
            if ctype == "multipart/related" and children:
                children = [_related_root(part, children)]
            stack.extend((child, depth + 1) for child in reversed(children))
    return plain, html


def _related_root(part: Message, children: list[Message]) -> Message:
    start = _params(_raw_part_header(part, "content-type")).get("start", "").strip()
    if start:
        for child in children:
            if _raw_part_header(child, "content-id").strip() == start:
                return child
    return children[0]


def _params(value: str) -> dict[str, str]:
    """Plain `; name=value` parameters (no RFC 2231), for the few places that need them."""
    params: dict[str, str] = {}
    for name, val in _PARAM.findall(value):
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1]
        params.setdefault(name.lower(), val)
    return params


# --- bodies --------------------------------------------------------------------------------


def _decode_body(part: Message, notes: list[str]) -> str:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:
        notes.append(f"undecodable body: {type(exc).__name__}")
        return ""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if not isinstance(data, bytes):
        return ""
    charset = ""
    try:
        charset = body_charset(part) or ""
    except Exception:
        charset = _params(_raw_part_header(part, "content-type")).get("charset", "")
    text = _decode_text(data, charset.strip().lower(), notes)
    return text.replace("\r\n", "\n").replace("\r", "\n")  # CRLF and lone CR → LF


def _decode_text(data: bytes, charset: str, notes: list[str]) -> str:
    """Decode with the declared charset, then UTF-8, then cp1252/latin-1, never failing."""
    declared_ok = False
    if charset and charset not in ("unknown-8bit", "x-unknown", "unknown"):
        try:
            return data.decode(charset)
        except (LookupError, UnicodeError, ValueError, TypeError):
            declared_ok = _codec_exists(charset)
    if charset:
        notes.append(f"body charset fallback from {charset}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared_ok:  # a real charset with a few bad bytes: keep its reading
        try:
            return data.decode(charset, "replace")
        except Exception:
            pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _codec_exists(charset: str) -> bool:
    try:
        b"".decode(charset)
        return True
    except Exception:
        return False


# --- attachments ---------------------------------------------------------------------------


def _attachment(part: Message, index: int, size: int, notes: list[str]) -> Attachment:
    ctype = content_type(part)
    filename = _filename(part, notes)
    if not filename:
        filename = f"attachment-{index}{_extension(ctype)}"
    content_id = _raw_part_header(part, "content-id").strip()
    if content_id.startswith("<") and content_id.endswith(">"):
        content_id = content_id[1:-1].strip()
    return Attachment(
        filename=filename,
        content_type=ctype,
        size=size,
        content_id=content_id,
        inline=_disposition(part) == "inline",
    )


def _filename(part: Message, notes: list[str]) -> str:
    """Disposition `filename`, else Content-Type `name`; RFC 2231 and (non-standard, common)
    RFC 2047 inside the quotes both decoded; reduced to a base name without control chars."""
    name = ""
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        raw = _raw_part_header(part, header)
        if not raw or param not in raw.lower():
            continue
        plain = _PLAIN_NAMED[header].fullmatch(raw)
        if plain is not None:  # what the header registry would return, ~100x faster
            name = plain.group(1) or plain.group(2)
            break
        try:
            params = _HEADER_FACTORY(header, raw).params
            name = str(params.get(param, "") or "")
        except Exception:
            notes.append(f"unparseable {header}")
        # Lenient reading for what the strict parser drops or truncates: unquoted values
        # with spaces (`name=This is a test.txt`) or encoded words (`name==?utf-8?B?...?=`).
        loose = _loose_param(raw, param)
        if loose and (not name or (len(loose) > len(name) and loose.startswith(name))):
            name = loose
        if name:
            break
    if not name:
        return ""
    if not name.isascii():  # RFC 2231 with a bogus charset leaves surrogate escapes behind
        name = _unraw(name)
    name = decode_words(name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())
    return name.strip()


# A header holding its type and one plain name parameter, the usual shape
# (`attachment; filename="report 2.pdf"`, `application/pdf; name=report.pdf`): the header
# registry returns the name unchanged, so `_filename` takes it without the registry's full
# RFC 2231/2047 parse. Names of letters, digits, `_.+-` and single spaces only; anything
# else goes the long way (tests/unit/test_mime_params.py checks both agree).
_NAME_TEXT = r"([A-Za-z0-9_.+-]+(?: [A-Za-z0-9_.+-]+)*)"
_NAME_TOKEN = r"([A-Za-z0-9_.+-]+)"
_PLAIN_NAMED = {
    "content-disposition": re.compile(
        rf"[ \t]*[A-Za-z][A-Za-z0-9-]*[ \t]*;[ \t]*filename[ \t]*=[ \t]*"
        rf'(?:"{_NAME_TEXT}"|{_NAME_TOKEN})[ \t]*',
        re.IGNORECASE,
    ),
    "content-type": re.compile(
        rf"[ \t]*[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+[ \t]*;[ \t]*name[ \t]*=[ \t]*"
        rf'(?:"{_NAME_TEXT}"|{_NAME_TOKEN})[ \t]*',
        re.IGNORECASE,
    ),
}


def _loose_param(raw: str, param: str) -> str:
    match = re.search(rf'(?:^|;)\s*{param}\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', raw, re.IGNORECASE)
    if not match:
        return ""
    value = match.group(1).strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
    return value


def _extension(content_type: str) -> str:
    ext = _EXTENSIONS.get(content_type)
    if ext:
        return ext
    try:
        return _MIME_TYPES.guess_extension(content_type, strict=False) or ".bin"
    except Exception:
        return ".bin"


def _encoded_size(part: Message) -> int:
    """Size of the decoded content, estimated from the encoded text without decoding it.

    base64: 3 bytes per 4 significant characters, minus padding. Other transfer encodings:
    the length as transmitted (quoted-printable is a slight overestimate). Attached
    messages: their serialised length.
    """
    try:
        payload = part.get_payload()
        if isinstance(payload, list):
            return sum(len(p.as_bytes()) for p in payload if isinstance(p, Message))
        if not isinstance(payload, str):
            return 0
        cte = _raw_part_header(part, "content-transfer-encoding").strip().lower()
        if cte == "base64":
            compact = "".join(payload.split())
            padding = len(compact) - len(compact.rstrip("="))
            return max(0, len(compact) * 3 // 4 - min(padding, 2))
        return len(payload)
    except Exception:
        return 0


def _scanned_size(scan: Scan, part: Message) -> int:
    """`_encoded_size` for a part whose payload `scan` left in the raw bytes."""
    cte = _raw_part_header(part, "content-transfer-encoding").strip().lower()
    size = scan.encoded_size(part, base64=cte == "base64")
    if size is None:  # 8-bit payload: get_payload() decodes it, so measure the stdlib way
        scan.load_payload(part)
        size = _encoded_size(part)
    return size


# --- defects -------------------------------------------------------------------------------


def _part_defects(msg: Message) -> list[str]:
    """Class names of the parser's defects on every part, attached messages included."""
    out: list[str] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        out.extend(type(d).__name__ for d in getattr(part, "defects", ()))
        if depth >= _MAX_DEPTH:
            continue
        try:
            payload = part.get_payload() if part.is_multipart() else None
        except Exception:
            payload = None
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
    return out
