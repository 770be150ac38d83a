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

__all__ = ["DEFAULT_MAX_BYTES", "MalformedXmlError", "UnsafeXmlError", "XmlError", "parse_xml"]

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
        message = f"XML document is not valid {encoding}: {err.reason} at byte {err.start}"
        raise UnsafeXmlError(message) from None


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
