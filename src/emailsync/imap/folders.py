"""Which role a server folder plays (inbox, sent, trash…), from LIST alone.

The sync needs to know which folder holds sent mail (to link outgoing messages to
contacts) and which hold junk or trash (to skip or mark them). Servers say so with
SPECIAL-USE attributes (RFC 6154) or Gmail's older XLIST; many do neither, so the
fallback is the folder's last path component against names that providers and mail
clients in several languages actually use.
"""

from __future__ import annotations

import unicodedata

from emailsync.domain.model import FolderRole

# RFC 6154 §2 attributes, plus XLIST's \Inbox, \Spam, \AllMail, \Starred (Gmail, pre-2013).
_FLAG_ROLES: dict[str, FolderRole] = {
    "\\inbox": FolderRole.INBOX,
    "\\sent": FolderRole.SENT,
    "\\archive": FolderRole.ARCHIVE,
    "\\trash": FolderRole.TRASH,
    "\\junk": FolderRole.JUNK,
    "\\spam": FolderRole.JUNK,
    "\\drafts": FolderRole.DRAFTS,
    "\\all": FolderRole.ALL,
    "\\allmail": FolderRole.ALL,
    "\\flagged": FolderRole.FLAGGED,
    "\\starred": FolderRole.FLAGGED,
    "\\important": FolderRole.NONE,
}

_NAMES: dict[FolderRole, tuple[str, ...]] = {
    FolderRole.SENT: (
        "sent", "sent items", "sent messages", "sent mail", "sent-mail", "sentmail",
        "outbox sent", "gesendet", "gesendete objekte", "gesendete elemente",
        "envoyés", "envoyes", "éléments envoyés", "elements envoyes", "messages envoyés",
        "enviados", "elementos enviados", "correo enviado", "inviati", "posta inviata",
        "elementi inviati", "verzonden", "verzonden items", "verzonden berichten",
        "skickat", "skickade objekt", "sendt", "sendte elementer", "sendt post",
        "lähetetyt", "wysłane", "elementy wysłane", "odeslané", "отправленные",
        "itens enviados", "enviadas", "送信済み", "已发送", "已發送", "보낸편지함",
    ),
    FolderRole.DRAFTS: (
        "drafts", "draft", "entwürfe", "entwurf", "brouillons", "borradores",
        "bozze", "concepten", "utkast", "kladder", "luonnokset", "kopie robocze",
        "koncepty", "черновики", "rascunhos", "下書き", "草稿", "임시보관함",
    ),
    FolderRole.TRASH: (
        "trash", "deleted", "deleted items", "deleted messages", "bin", "papierkorb",
        "gelöschte objekte", "gelöschte elemente", "corbeille", "éléments supprimés",
        "elements supprimes", "papelera", "elementos eliminados", "cestino",
        "posta eliminata", "elementi eliminati", "prullenbak", "verwijderde items",
        "papperskorgen", "borttagna objekt", "papirkurv", "slettede elementer",
        "roskakori", "kosz", "koš", "корзина", "удаленные", "lixeira", "lixo",
        "itens excluídos", "ゴミ箱", "已删除", "垃圾桶", "휴지통",
    ),
    FolderRole.JUNK: (
        "junk", "junk e-mail", "junk email", "junk mail", "spam", "bulk mail", "bulk",
        "spamverdacht", "junk-e-mail", "courrier indésirable", "courrier indesirable",
        "indésirables", "correo no deseado", "posta indesiderata", "ongewenste e-mail",
        "skräppost", "uønsket e-post", "roskaposti", "wiadomości-śmieci", "nevyžádaná pošta",
        "спам", "lixo eletrônico", "迷惑メール", "垃圾邮件", "스팸편지함",
    ),
    FolderRole.ARCHIVE: (
        "archive", "archives", "archiv", "archivo", "archivio", "archief", "arkiv",
        "arkisto", "archiwum", "архив", "arquivo", "アーカイブ", "归档", "보관함",
    ),
    FolderRole.ALL: ("all mail", "alle nachrichten", "tous les messages", "todos"),
    FolderRole.FLAGGED: ("starred", "flagged", "markiert", "suivis"),
}  # fmt: skip


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


_BY_NAME: dict[str, FolderRole] = {
    _fold(name): role for role, names in _NAMES.items() for name in names
}


def role_for(name: str, flags: tuple[str, ...], delimiter: str) -> FolderRole:
    """The role of folder `name` given its LIST attributes and hierarchy delimiter.

    Attributes win over names (the server knows best); then INBOX (RFC 3501 §5.1: the
    name is case-insensitive); then the last path component against well-known names,
    so "INBOX.Sent", "[Gmail]/Sent Mail" and "Gesendet" all count as sent.
    """
    for flag in flags:
        role = _FLAG_ROLES.get(flag.casefold())
        if role is not None and role is not FolderRole.NONE:
            return role
    if name.upper() == "INBOX":
        return FolderRole.INBOX
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    return _BY_NAME.get(_fold(leaf), FolderRole.NONE)
