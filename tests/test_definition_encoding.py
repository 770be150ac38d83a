"""Files written by other tools in other encodings keep their names: "Rückruf" stays "Rückruf".

The same process saved as ISO-8859-1, windows-1252 and UTF-16 (with its BOM) validates, deploys
and reads back as UTF-8 with a declaration saying so, through the registry, the API, the CLI and
the editor's "Open file…" (which sends the bytes for the server to decode).
"""

from __future__ import annotations

import codecs
import io
import zipfile
from pathlib import Path

import pytest
from flask import Flask

from engine.xmlsafe import parse_xml, to_utf8
from tests.api_support import caller
from tests.test_diagrams import logged_in
from workflows.definitions.catalog import deploy_definition, validate_definition
from workflows.services import Services

DATA = Path(__file__).resolve().parent / "data"
UTF8 = (DATA / "rueckruf.bpmn").read_text(encoding="utf-8")
NAME = "Rückruf beim Kunden \u2013 Qualitätsprüfung"  # an en dash, in windows-1252 but not latin-1
TASK = "Rückruf führen (€ Budget prüfen)"


def saved_as(codec: str) -> bytes:
    """The file as another tool would have saved it: declaration and bytes in `codec`."""
    declared = {"latin-1": "ISO-8859-1", "cp1252": "windows-1252", "utf-16": "UTF-16"}[codec]
    text = UTF8.replace('encoding="UTF-8"', f'encoding="{declared}"', 1)
    if codec == "latin-1":  # no en dash nor euro sign in ISO-8859-1
        text = text.replace("\u2013", "-").replace("€", "EUR")
    return text.encode(codec)  # "utf-16" writes its BOM


@pytest.mark.parametrize("codec", ["latin-1", "cp1252", "utf-16"])
def test_a_file_in_another_encoding_deploys_with_its_names(deployed: Services, codec: str) -> None:
    raw = saved_as(codec)
    assert raw.startswith(codecs.BOM_UTF16_LE) or b"R\xfcckruf" in raw  # really not UTF-8
    with deployed.db.unit_of_work() as session:
        assert validate_definition(session, deployed, raw, actor="olga") == []
        row, created = deploy_definition(session, deployed, raw, actor="olga", note=f"from {codec}")
        assert created
        assert row.name.startswith("Rückruf beim Kunden")
        assert row.bpmn_xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        assert "Rückruf führen" in row.bpmn_xml and "\ufffd" not in row.bpmn_xml
        # what is stored parses back to the same names
        tree = parse_xml(row.bpmn_xml.encode("utf-8"))
        names = {e.get("name") for e in tree.getroot().iter()}
        assert "Kundenrückruf" in names


def test_the_same_process_in_any_encoding_is_one_version(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        first, created = deploy_definition(session, deployed, UTF8.encode(), actor="olga", note="utf-8")
        again, created_again = deploy_definition(
            session, deployed, saved_as("cp1252"), actor="olga", note="windows"
        )
    assert created and not created_again and again.id == first.id
    assert to_utf8(UTF8.encode("utf-8")) == UTF8.encode("utf-8")  # UTF-8 files hash as before


def test_the_api_takes_text_whatever_its_declaration_says(app: Flask, deployed: Services) -> None:
    olga = caller(app, deployed, "olga")
    text = saved_as("cp1252").decode("cp1252")  # a client read the file and sends its text
    assert 'encoding="windows-1252"' in text
    checked = olga.post("/api/v1/definitions/validate", json={"bpmn": text})
    assert checked.get_json() == {"valid": True, "issues": []}
    deployed_now = olga.post("/api/v1/definitions", json={"bpmn": text, "note": "Rückruf"})
    assert deployed_now.status_code == 201
    assert deployed_now.get_json()["definition"]["name"] == NAME
    xml = olga.get("/api/v1/definitions/rueckruf/versions/1/bpmn").get_data(as_text=True)
    assert TASK in xml and "RÃ¼ckruf" not in xml and 'encoding="UTF-8"' in xml


def test_open_file_sends_bytes_and_the_server_decodes_them(app: Flask, deployed: Services) -> None:
    olga = logged_in(app, deployed, "olga")
    opened = olga.post(
        "/definitions/open",
        data={"files": [(io.BytesIO(saved_as("utf-16")), "Rückruf.bpmn")]},
        content_type="multipart/form-data",
    )
    assert opened.status_code == 200, opened.get_json()
    body = opened.get_json()
    assert body["main"] == "Rückruf.bpmn" and TASK in body["xml"]
    assert body["xml"].startswith('<?xml version="1.0" encoding="UTF-8"?>')
    # a zip of the file and a form comes back sorted
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("rueckruf/rueckruf.bpmn", saved_as("cp1252"))
        form = '{"type": "object", "title": "Notizen für später"}'
        archive.writestr("rueckruf/forms/notes.schema.json", form)
    zipped = olga.post(
        "/definitions/open",
        data={"files": [(io.BytesIO(buffer.getvalue()), "rueckruf.zip")]},
        content_type="multipart/form-data",
    ).get_json()
    assert zipped["main"] == "rueckruf.bpmn" and TASK in zipped["xml"]
    assert zipped["forms"] == {"notes.schema.json": {"type": "object", "title": "Notizen für später"}}


def test_an_undecodable_file_is_refused_with_what_to_do(app: Flask, deployed: Services) -> None:
    olga = logged_in(app, deployed, "olga")
    undeclared = UTF8.replace(' encoding="UTF-8"', "", 1).encode("cp1252")  # no declaration, not UTF-8
    refused = olga.post(
        "/definitions/open",
        data={"files": [(io.BytesIO(undeclared), "alt.bpmn")]},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    message = refused.get_json()["error"]
    assert message.startswith("alt.bpmn: XML document is not valid utf-8") and "encoding=" in message
    ana = logged_in(app, deployed, "ana")
    assert ana.post(
        "/definitions/open",
        data={"files": [(io.BytesIO(UTF8.encode()), "x.bpmn")]},
        content_type="multipart/form-data",
    ).status_code == 403
    with deployed.db.unit_of_work() as session:
        issues = validate_definition(session, deployed, undeclared, actor="olga")
    assert [i.code for i in issues] == ["xml"] and "not valid utf-8" in issues[0].message
