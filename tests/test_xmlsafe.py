"""Tests for engine.xmlsafe: hostile XML is refused, BPMN parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from engine import xmlsafe
from engine.xmlsafe import MalformedXmlError, UnsafeXmlError, XmlError, parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

NORMAL_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by a modeller -->
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" id="defs" targetNamespace="http://example.com/x">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end">
      <bpmn:conditionExpression>budget &gt; 10000 and name == "Café"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:endEvent id="end"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<definitions>&x;</definitions>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""

DOCTYPE_ALONE = b'<?xml version="1.0"?>\n<!DOCTYPE definitions>\n<definitions/>'
NETWORK_DTD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE definitions SYSTEM "http://example.com/evil.dtd">\n<definitions/>'
)
PARAMETER_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY % p SYSTEM "http://example.com/p.dtd"> %p;]>\n<d/>'
)

_DOCTYPE_MESSAGE = "DOCTYPE declarations are not allowed in BPMN files"


def test_normal_bpmn_parses_from_bytes_and_str() -> None:
    for data in (NORMAL_BPMN.encode("utf-8"), NORMAL_BPMN):
        tree = parse_xml(data)
        assert isinstance(tree, etree._ElementTree)
        root = tree.getroot()
        assert root.tag == f"{{{BPMN_NS}}}definitions"
        condition = root.find(f".//{{{BPMN_NS}}}conditionExpression")
        assert condition is not None and condition.text == 'budget > 10000 and name == "Café"'
        # Comments are kept (remove_comments=False).
        assert any(isinstance(node, etree._Comment) for node in root.itersiblings(preceding=True))


def test_declared_non_utf8_encoding() -> None:
    doc = '<?xml version="1.0" encoding="ISO-8859-1"?><a>Café</a>'
    assert parse_xml(doc.encode("latin-1")).getroot().text == "Café"
    # A str is parsed as the text it is, whatever its declaration says.
    assert parse_xml(doc).getroot().text == "Café"


def test_project_definitions_parse() -> None:
    files = sorted((Path(__file__).resolve().parent.parent / "definitions").glob("*.bpmn"))
    for path in files:
        assert parse_xml(path.read_bytes()).getroot().tag == f"{{{BPMN_NS}}}definitions"


def test_malformed_xml_names_the_line() -> None:
    with pytest.raises(MalformedXmlError, match=r"line 4") as info:
        parse_xml(b'<?xml version="1.0"?>\n<definitions>\n  <process>\n</definitions>\n')
    assert info.value.line == 4
    assert isinstance(info.value, XmlError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("data", [b"", b"not xml", b"<a>&undefined;</a>"])
def test_other_malformed_documents(data: bytes) -> None:
    with pytest.raises(MalformedXmlError, match="Malformed XML"):
        parse_xml(data)


@pytest.mark.parametrize(
    "data",
    [XXE, BILLION_LAUGHS, DOCTYPE_ALONE, NETWORK_DTD, PARAMETER_ENTITY],
    ids=["xxe", "billion-laughs", "doctype-alone", "network-dtd", "parameter-entity"],
)
def test_dtd_documents_are_refused(data: bytes) -> None:
    with pytest.raises(UnsafeXmlError, match=_DOCTYPE_MESSAGE):
        parse_xml(data)
    with pytest.raises(UnsafeXmlError, match=_DOCTYPE_MESSAGE):
        parse_xml(data.decode("utf-8"))


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("utf-16", "UTF-16"),
        ("utf-16-le", "UTF-16"),
        ("utf-16-be", "UTF-16"),
        ("utf-32", "UTF-32"),
        ("utf-8-sig", "UTF-8"),
    ],
)
def test_dtd_in_other_encodings_is_refused(codec: str, declared: str) -> None:
    # A byte scan for b"<!DOCTYPE" alone would miss these.
    text = XXE.decode().replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{declared}"?>')
    with pytest.raises(UnsafeXmlError, match=_DOCTYPE_MESSAGE):
        parse_xml(text.encode(codec))


def test_lowercase_doctype_is_refused() -> None:
    with pytest.raises(XmlError):
        parse_xml(b"<!doctype d><d/>")


def test_parsed_doctype_is_refused_even_if_the_scan_misses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Defence in depth: the docinfo check alone refuses, and nothing is expanded.
    monkeypatch.setattr(xmlsafe, "_DTD_MARKERS", re.compile("(?!)"))
    for data in (XXE, DOCTYPE_ALONE, NETWORK_DTD):
        with pytest.raises(UnsafeXmlError, match=_DOCTYPE_MESSAGE):
            parse_xml(data)


def test_parser_never_expands_entities() -> None:
    # Even the bare parser (without the DOCTYPE refusal) keeps entities unexpanded.
    root = etree.fromstring(XXE, xmlsafe._make_parser())
    assert "root:" not in etree.tostring(root, encoding="unicode")


def test_oversize_input_is_refused() -> None:
    big = b"<a>" + b"x" * (xmlsafe.DEFAULT_MAX_BYTES + 1) + b"</a>"
    with pytest.raises(UnsafeXmlError, match="limit"):
        parse_xml(big)
    with pytest.raises(UnsafeXmlError, match="limit is 100 bytes"):
        parse_xml(NORMAL_BPMN, max_bytes=100)
    assert parse_xml(b"<a/>", max_bytes=4).getroot().tag == "a"


def test_undecodable_input_is_refused() -> None:
    with pytest.raises(UnsafeXmlError, match="not valid"):
        parse_xml(b'<?xml version="1.0" encoding="utf-8"?><a>\xff\xfe\xfa</a>')
    with pytest.raises(UnsafeXmlError, match="Unsupported XML encoding"):
        parse_xml(b'<?xml version="1.0" encoding="x-made-up"?><a/>')
