"""Safe XML parsing for uploaded process definitions.

BPMN files are uploaded by users, so they are parsed with entity resolution,
DTD loading and network access off, and any document type declaration is
refused outright: before parsing (a byte scan, so no entity can be expanded
first) and after (the parsed ``docinfo``). The defaults of older lxml/libxml2
versions let external entities through, so nothing relies on them.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MalformedXmlError",
    "UnsafeXmlError",
    "XmlError",
    "decode_xml",
    "parse_xml",
    "to_utf8",
]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024

_DTD_MARKERS = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DTD_REFUSED = "DOCTYPE declarations are not allowed in BPMN files"
# the encoding pseudo-attribute of an XML declaration, in text already decoded
_DECLARATION = re.compile(r"""^(\s*<\?xml\b[^>]*?\bencoding\s*=\s*)(["'])([A-Za-z0-9._-]+)\2""")
_UTF8_NAMES = frozenset({"utf-8", "utf8"})


class XmlError(ValueError):
    """The document could not be parsed."""


class MalformedXmlError(XmlError):
    """The document is not well-formed XML.

    Attributes:
        line: Line of the first error, if known.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class UnsafeXmlError(XmlError):
    """The document uses a feature refused for safety (DTD, entities, size)."""


def _make_parser(encoding: str | None = None) -> etree.XMLParser:
    return etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _scan_text(data: bytes) -> str:
    """Decodes the bytes the way the document says, for the DOCTYPE scan only.

    Raises:
        UnsafeXmlError: The encoding is unknown or the bytes do not decode,
            so the scan could be fooled.
    """
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding = name
            break
    else:
        match = _DECLARED_ENCODING.match(data)
        if match:
            encoding = match.group(1).decode("ascii")
        elif b"\x00" in data[:4]:
            # UTF-16/32 without BOM: "<" is the only possible first character.
            encoding = "utf-32" if data[:4] in (b"<\x00\x00\x00", b"\x00\x00\x00<") else "utf-16"
            encoding += "-le" if data[0:1] == b"<" else "-be"
    try:
        return data.decode(encoding)
    except LookupError:
        raise UnsafeXmlError(f"Unsupported XML encoding {encoding!r}") from None
    except UnicodeDecodeError as err:
        message = (
            f"XML document is not valid {encoding}: {err.reason} at byte {err.start}"
            " (save it as UTF-8, or name its encoding in the XML declaration,"
            ' e.g. <?xml version="1.0" encoding="windows-1252"?>)'
        )
        raise UnsafeXmlError(message) from None


def decode_xml(data: bytes | str) -> str:
    """The text of an XML document, decoded the way it says (BOM, declaration, or UTF-8).

    The returned text has no BOM and an encoding declaration of UTF-8 (a declaration naming
    another encoding is rewritten, so the text can be stored and read back as UTF-8). A
    ``str`` is taken as the text it is: only its declaration is rewritten.

    Raises:
        UnsafeXmlError: The encoding is unknown or the bytes do not decode in it.
    """
    text = data if isinstance(data, str) else _scan_text(bytes(data))
    text = text.removeprefix("\ufeff")
    match = _DECLARATION.match(text)
    if match and match.group(3).lower() not in _UTF8_NAMES:
        # keep the declaration's quoting; only the name changes, so UTF-8 files hash as before
        text = f"{match.group(1)}{match.group(2)}UTF-8{match.group(2)}{text[match.end():]}"
    return text


def to_utf8(data: bytes | str) -> bytes:
    """The document re-encoded as UTF-8 with a matching declaration (see `decode_xml`).

    A document already in UTF-8 without BOM comes back byte for byte, so its hash is unchanged.

    Raises:
        UnsafeXmlError: as `decode_xml`.
    """
    if isinstance(data, bytes) and not data.startswith(codecs.BOM_UTF8):
        match = _DECLARED_ENCODING.match(data)
        declared = match.group(1).decode("ascii").lower() if match else "utf-8"
        if declared in _UTF8_NAMES and b"\x00" not in data[:4]:
            _scan_text(data)  # still refuse bytes that are not UTF-8
            return data
    return decode_xml(data).encode("utf-8")


def parse_xml(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parses an untrusted XML document safely.

    Args:
        data: The document. A ``str`` is parsed as the text it is, whatever
            encoding its XML declaration names.
        max_bytes: Size limit of the (UTF-8 encoded, for ``str``) document.

    Returns:
        The parsed tree.

    Raises:
        UnsafeXmlError: The document is too big, or has a DOCTYPE/ENTITY
            declaration, or cannot be decoded for the safety scan.
        MalformedXmlError: The document is not well-formed; the message and
            ``line`` give the line of the first error.
    """
    if isinstance(data, str):
        text = data
        raw = data.encode("utf-8")
        # lxml refuses str with an encoding declaration; bytes plus an
        # explicit encoding overrides the declaration instead.
        parser = _make_parser("utf-8")
    else:
        raw = bytes(data)
        text = ""
        parser = _make_parser()
    if len(raw) > max_bytes:
        raise UnsafeXmlError(f"XML document is {len(raw)} bytes; the limit is {max_bytes} bytes")
    if not text:
        text = _scan_text(raw)
    if _DTD_MARKERS.search(text):
        raise UnsafeXmlError(_DTD_REFUSED)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as err:
        line = err.lineno or None
        where = f" at line {line}" if line else ""
        raise MalformedXmlError(f"Malformed XML{where}: {err.msg or err}", line) from None
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXmlError(_DTD_REFUSED)
    return tree
