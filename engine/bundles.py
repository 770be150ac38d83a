"""Definition bundles: the set of files one version is made of, read from files, a folder or a zip.

A version is a main BPMN file plus what it needs: the BPMN files of the processes it calls,
DMN decision tables, JSON Schema forms and their UI schemas. They arrive as uploaded files
(several, or one zip) or as a folder (the CLI), in whatever encoding their authors' tools wrote:
XML files are decoded by their BOM or declaration and kept as UTF-8 with a declaration saying
so (`engine.xmlsafe.decode_xml`); JSON files may be UTF-8 (with or without BOM) or UTF-16.
"""

from __future__ import annotations

import codecs
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .xmlsafe import XmlError, decode_xml, parse_xml

__all__ = ["Bundle", "BundleError", "read_bundle", "read_folder", "read_zip", "write_zip"]

BPMN_SUFFIXES = (".bpmn", ".bpmn2", ".bpmn20.xml", ".xml")
DMN_SUFFIXES = (".dmn", ".dmn11.xml", ".dmn13.xml")
JSON_SUFFIX = ".json"
# files of a SpiffArena process-model folder that are not part of the process
SPIFF_MODEL_FILE = "process_model.json"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MAX_FILES = 200
MAX_TOTAL_BYTES = 20 * 1024 * 1024


class BundleError(ValueError):
    """The files do not make a bundle (unreadable zip, undecodable file, unknown kind...)."""


@dataclass
class Bundle:
    """The files of one definition version, decoded.

    Attributes:
        bpmn: BPMN file name -> UTF-8 text (the main one included).
        dmn: DMN file name -> UTF-8 text.
        forms: JSON file name -> parsed JSON (form schemas and UI schemas).
        main: the name of the main BPMN file ("" when there is no BPMN file).
        model: a SpiffArena ``process_model.json`` when the bundle came with one.
        ignored: names of files that are none of the above (listed, not kept).
    """

    bpmn: dict[str, str] = field(default_factory=dict)
    dmn: dict[str, str] = field(default_factory=dict)
    forms: dict[str, Any] = field(default_factory=dict)
    main: str = ""
    model: dict[str, Any] | None = None
    ignored: list[str] = field(default_factory=list)

    @property
    def main_xml(self) -> str:
        """The main BPMN document."""
        return self.bpmn[self.main]

    def others(self) -> dict[str, str]:
        """The BPMN files besides the main one."""
        return {k: v for k, v in self.bpmn.items() if k != self.main}


def _kind(name: str) -> str:
    lower = name.lower()
    if lower.endswith(DMN_SUFFIXES):
        return "dmn"
    if lower.endswith(BPMN_SUFFIXES):
        return "bpmn"
    if lower.endswith(JSON_SUFFIX):
        return "json"
    return "other"


def _decode_json(name: str, raw: bytes) -> Any:
    text: str
    try:
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{name}: not UTF-8 or UTF-16 JSON ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BundleError(f"{name}: not valid JSON ({exc})") from None


def read_bundle(files: Iterable[tuple[str, bytes]], *, main: str | None = None) -> Bundle:
    """Sort uploaded files into a bundle; a single ``.zip`` among them is opened.

    Args:
        files: (file name, content) pairs; names may carry folders (only the last part counts).
        main: the main BPMN file's name; by default the SpiffArena model's primary file, else the
            file whose processes no other file calls, else the first BPMN file by name.

    Raises:
        BundleError: an unreadable zip or file, too many or too large files.
    """
    bundle = Bundle()
    count = total = 0
    for name, raw in files:
        base = PurePosixPath(name.replace("\\", "/")).name
        if base.lower().endswith(".zip"):
            inner = read_zip(raw)
            bundle.bpmn.update(inner.bpmn)
            bundle.dmn.update(inner.dmn)
            bundle.forms.update(inner.forms)
            bundle.ignored.extend(inner.ignored)
            bundle.model = inner.model or bundle.model
            continue
        count += 1
        total += len(raw)
        if count > MAX_FILES or total > MAX_TOTAL_BYTES:
            raise BundleError(f"a bundle holds at most {MAX_FILES} files and {MAX_TOTAL_BYTES // 2**20} MiB")
        kind = _kind(base)
        try:
            if kind == "bpmn":
                bundle.bpmn[base] = decode_xml(raw)
            elif kind == "dmn":
                bundle.dmn[base] = decode_xml(raw)
            elif base == SPIFF_MODEL_FILE:
                model = _decode_json(base, raw)
                bundle.model = model if isinstance(model, dict) else None
            elif kind == "json":
                bundle.forms[base] = _decode_json(base, raw)
            else:
                bundle.ignored.append(base)
        except XmlError as exc:
            raise BundleError(f"{base}: {exc}") from None
    bundle.main = _main_file(bundle, main)
    return bundle


def _main_file(bundle: Bundle, main: str | None) -> str:
    if main:
        if main not in bundle.bpmn:
            raise BundleError(f"the main file {main} is not among the BPMN files")
        return main
    primary = (bundle.model or {}).get("primary_file_name")
    if isinstance(primary, str) and primary in bundle.bpmn:
        return primary
    names = sorted(bundle.bpmn)
    if len(names) <= 1:
        return names[0] if names else ""
    processes: dict[str, set[str]] = {}
    called: set[str] = set()
    for name in names:
        try:
            root = parse_xml(bundle.bpmn[name]).getroot()
        except XmlError:
            processes[name] = set()
            continue  # the parse that follows names the problem
        processes[name] = {str(p.get("id")) for p in root.iter(f"{{{BPMN_NS}}}process")}
        called |= {str(c.get("calledElement")) for c in root.iter(f"{{{BPMN_NS}}}callActivity")}
    roots = [n for n in names if not processes[n] & called]
    return roots[0] if roots else names[0]


def read_zip(raw: bytes) -> Bundle:
    """A bundle from a zip (folders inside it are flattened; hidden files are skipped).

    Raises:
        BundleError: not a zip, or too many or too large files.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise BundleError(f"not a zip file ({exc})") from None
    entries = [i for i in archive.infolist() if not i.is_dir()]
    entries = [i for i in entries if not any(p.startswith((".", "__MACOSX")) for p in i.filename.split("/"))]
    if len(entries) > MAX_FILES or sum(i.file_size for i in entries) > MAX_TOTAL_BYTES:
        raise BundleError(f"a bundle holds at most {MAX_FILES} files and {MAX_TOTAL_BYTES // 2**20} MiB")
    return read_bundle((i.filename, archive.read(i)) for i in entries)


def read_folder(path: str | Path, *, main: str | None = None) -> Bundle:
    """A bundle from a folder: its files and those of its ``forms/`` folder.

    Raises:
        BundleError: as `read_bundle`; also when the folder holds no BPMN file.
    """
    folder = Path(path)
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    forms = folder / "forms"
    if forms.is_dir():
        files += [p for p in sorted(forms.iterdir()) if p.is_file() and p.suffix == JSON_SUFFIX]
    bundle = read_bundle(((p.name, p.read_bytes()) for p in files), main=main)
    if not bundle.bpmn:
        raise BundleError(f"{folder} holds no BPMN file")
    return bundle


def write_zip(
    bpmn: Mapping[str, str], dmn: Mapping[str, str], forms: Mapping[str, Any], *, folder: str = ""
) -> bytes:
    """A zip of a version's files (forms under ``forms/``), the way `read_zip` reads it back."""
    buffer = io.BytesIO()
    prefix = f"{folder}/" if folder else ""
    entries = [(prefix + name, text) for name, text in sorted({**bpmn, **dmn}.items())]
    entries += [
        (f"{prefix}forms/{n}", json.dumps(v, indent=2, ensure_ascii=False)) for n, v in sorted(forms.items())
    ]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries:
            # a fixed time stamp: a version downloads as the same bytes every time
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text.encode("utf-8"))
    return buffer.getvalue()
