"""Definition registry: parse, lint, deploy and look up immutable process versions.

A definition is a BPMN file plus the JSON Schema forms its tasks reference. Parsing
goes through SpiffWorkflow's `SpiffBpmnParser` and its XSD validator, fed with a tree
from `engine.xmlsafe` (no DTDs, no entities, no network). Lint rules run on top; the
engine has generic ones and callers register their own (`LintRule`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import ConflictError, DefinitionError, LintIssue, NotFoundError
from .facts import fact_names
from .formschema import form_schema_problems, make_form_validator
from .models import DefinitionVersion
from .sandbox import check_expression, check_script
from .serialization import SERIALIZER_VERSION, WorkflowCodec
from .structure import (
    clean,
    dangling_flows,
    element_names,
    gateway_issues,
    local,
    runnable_issues,
    structure_issues,
)
from .xmlsafe import XmlError, parse_xml, to_utf8

FORM_PROPERTY = "formJsonSchemaFilename"
UI_SCHEMA_PROPERTY = "formUiSchemaFilename"
# on a start event: the JSON Schema the start data's `options` must satisfy (it travels with the
# version like a form)
OPTIONS_PROPERTY = "optionsJsonSchemaFilename"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass
class ParsedDefinition:
    """A parsed, not yet deployed definition."""

    process_id: str
    name: str
    bpmn_xml: str
    spec: Any
    subprocess_specs: dict[str, Any]
    forms: dict[str, Any]
    lanes: list[str]
    content_hash: str
    # forms referenced by tasks that could not be read (name -> problem)
    form_problems: dict[str, str] = field(default_factory=dict)
    # lane name -> BPMN id of the lane, so lint issues about a lane can name its element
    lane_ids: dict[str, str] = field(default_factory=dict)
    # the parsed main document, and every element id with its name (for messages)
    tree: Any = None
    names: dict[str, str] = field(default_factory=dict)
    # every process the bundle defines, and every DMN decision id it carries
    processes: frozenset[str] = frozenset()
    decisions: frozenset[str] = frozenset()
    # service-task operators the application registered (none: service tasks are refused)
    connectors: frozenset[str] = frozenset()
    # the other files of the bundle (called processes' BPMN, DMN tables): name -> UTF-8 text
    files: dict[str, str] = field(default_factory=dict)

    def run_ids(self) -> set[str]:
        """The processes Baton runs: the main one and those it calls."""
        return {self.process_id, *self.subprocess_specs}

    def task_specs(self) -> Iterator[Any]:
        """Every task spec of the process and its subprocesses."""
        for spec in [self.spec, *self.subprocess_specs.values()]:
            yield from spec.task_specs.values()

    def human_task_specs(self) -> Iterator[Any]:
        """User and manual tasks (the ones people complete)."""
        return (ts for ts in self.task_specs() if getattr(ts, "manual", False))


LintRule = Callable[[ParsedDefinition], Iterable[LintIssue]]


@dataclass(frozen=True)
class DefinitionInfo:
    """An immutable, session-free copy of a deployed version (safe to cache and share)."""

    id: int
    process_id: str
    version: int
    name: str
    forms: Mapping[str, Any]
    spec_json: str
    serializer_version: str
    # workflow variables whose current values each step keeps in `workflow_instance.facts`
    facts: tuple[str, ...] = ()

    @classmethod
    def of(cls, row: DefinitionVersion) -> DefinitionInfo:
        """Copy a version row."""
        return cls(
            row.id,
            row.process_id,
            row.version,
            row.name,
            dict(row.forms),
            row.spec_json,
            row.serializer_version,
            fact_names(row.bpmn_xml, row.process_id),
        )


def properties_of(task_spec: Any) -> dict[str, str]:
    """The `spiffworkflow:property` entries of a task spec (empty when none)."""
    extensions = getattr(task_spec, "extensions", None) or {}
    return dict(extensions.get("properties") or {})


def element_id(task_spec: Any) -> str:
    """The BPMN id of a task spec (its internal name for engine-made specs)."""
    return getattr(task_spec, "bpmn_id", None) or task_spec.name


# -- built-in lint rules -------------------------------------------------------------


def rule_human_tasks_in_lanes(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """Every user/manual task must lie in a lane, and the process must have lanes."""
    for ts in defn.human_task_specs():
        if not getattr(ts, "lane", None):
            yield LintIssue(element_id(ts), f"task '{ts.bpmn_name or ts.name}' is not in any lane", "lane")


def rule_forms(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """Referenced forms, UI schemas and options schemas must exist and be valid (and safe)."""
    for ts in defn.human_task_specs():
        for prop, what in ((FORM_PROPERTY, "form"), (UI_SCHEMA_PROPERTY, "UI schema")):
            form = properties_of(ts).get(prop)
            problem = defn.form_problems.get(form) if form is not None else None
            if problem:
                yield LintIssue(element_id(ts), f"{what} {form}: {problem}", "form")
    for ts, name in _options_references(defn):
        problem = defn.form_problems.get(name)
        if problem:
            yield LintIssue(element_id(ts), f"options schema {name}: {problem}", "form")


def _options_references(defn: ParsedDefinition) -> Iterator[tuple[Any, str]]:
    """(task spec, schema file name) of every options schema an event names."""
    for ts in defn.task_specs():
        name = properties_of(ts).get(OPTIONS_PROPERTY)
        if name is not None:
            yield ts, name


def rule_expressions(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """Gateway conditions, scripts and timer expressions must compile in the sandbox."""
    for ts in defn.task_specs():
        eid = element_id(ts)
        for condition, _target in getattr(ts, "cond_task_specs", None) or []:
            source = condition.args[0] if hasattr(condition, "args") else condition
            if source is None:
                continue
            if (msg := check_expression(source)) is not None:
                yield LintIssue(eid, f"condition {source!r}: {msg}", "condition")
        for attr in ("script", "prescript", "postscript"):
            source = getattr(ts, attr, None)
            if isinstance(source, str) and (msg := check_script(source)) is not None:
                yield LintIssue(eid, f"{attr} does not compile: {msg}", "script")
        event_definition = getattr(ts, "event_definition", None)
        if isinstance(event_definition, TimerEventDefinition):
            yield from _check_timer(eid, event_definition)


def _check_timer(eid: str, event_definition: TimerEventDefinition) -> Iterable[LintIssue]:
    expression = event_definition.expression
    if (msg := check_expression(expression)) is not None:
        yield LintIssue(eid, f"timer expression {expression!r}: {msg}", "timer")
        return
    try:
        value = ast.literal_eval(expression)
    except (ValueError, SyntaxError):
        return  # computed from task data at run time; compiling is all we can check
    if not isinstance(value, str):
        yield LintIssue(eid, f"timer expression {expression!r} must evaluate to an ISO 8601 string", "timer")
        return
    try:
        if isinstance(event_definition, DurationTimerEventDefinition):
            TimerEventDefinition.parse_iso_duration(value)
        elif isinstance(event_definition, TimeDateEventDefinition):
            TimerEventDefinition.get_datetime(value)
        elif isinstance(event_definition, CycleTimerEventDefinition):
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception as exc:
        yield LintIssue(eid, f"timer value {value!r} is not valid ISO 8601: {exc}", "timer")


def rule_structure(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """End events, reachability, loose steps, and gateways that may find no way on."""
    if defn.tree is None:
        return
    root = defn.tree.getroot()
    yield from structure_issues(root, defn.run_ids())
    yield from gateway_issues(root, defn.run_ids(), defn.forms, forms_complete=not defn.form_problems)


def rule_runnable(defn: ParsedDefinition) -> Iterable[LintIssue]:
    """What Baton cannot run (other script languages, service tasks, unknown functions...)."""
    if defn.tree is None:
        return
    yield from runnable_issues(
        defn.tree.getroot(),
        defn.run_ids(),
        processes=defn.processes,
        decisions=defn.decisions,
        connectors=defn.connectors,
    )


DEFAULT_RULES: tuple[LintRule, ...] = (
    rule_structure,
    rule_runnable,
    rule_human_tasks_in_lanes,
    rule_forms,
    rule_expressions,
)


# -- forms ---------------------------------------------------------------------------


def read_forms_dir(path: str | Path) -> dict[str, str]:
    """Read every `*.json` file of a folder as raw text, keyed by file name."""
    folder = Path(path)
    if not folder.is_dir():
        return {}
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.json"))}


def _load_form(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            return None, f"not valid JSON ({exc})"
    if not isinstance(raw, dict):
        return None, "a JSON Schema must be an object"
    try:
        validator_for(raw, default=Draft202012Validator).check_schema(raw)
    except SchemaError as exc:
        return None, f"not a valid JSON Schema: {exc.message}"
    unsafe = form_schema_problems(raw)
    if unsafe:
        return None, "; ".join(f"{message} (at {pointer or '/'})" for pointer, message in unsafe)
    return raw, None


def _load_json_object(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    if raw is None:
        return None, "file not found"
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            return None, f"not valid JSON ({exc})"
    if not isinstance(raw, dict):
        return None, "a UI schema must be a JSON object"
    return raw, None


# -- the registry --------------------------------------------------------------------


class DefinitionRegistry:
    """Parses, validates, deploys and serves definition versions.

    Args:
        codec: serializes specs for storage.
        rules: extra lint rules (run after the built-in ones).
        max_bytes: largest BPMN document accepted.
        hints: issue code -> what to do, for issues whose rule gave no hint.
        connectors: service-task operators the application can run (none by default).
    """

    def __init__(
        self,
        codec: WorkflowCodec,
        rules: Sequence[LintRule] = (),
        max_bytes: int = 5 * 1024 * 1024,
        *,
        hints: Mapping[str, str] | None = None,
        connectors: Iterable[str] = (),
    ) -> None:
        self.codec = codec
        self.rules: list[LintRule] = [*DEFAULT_RULES, *rules]
        self.hints: dict[str, str] = {**DEFAULT_HINTS, **(hints or {})}
        self.connectors = frozenset(connectors)
        self.max_bytes = max_bytes
        self._infos: dict[int, DefinitionInfo] = {}
        self._specs: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._validators: dict[tuple[int, str], Validator] = {}
        self._lock = threading.Lock()

    # parsing and validation

    def parse(
        self,
        bpmn: bytes | str,
        forms: Mapping[str, Any] | None = None,
        *,
        filename: str = "definition.bpmn",
        process_id: str | None = None,
        files: Mapping[str, bytes | str] | None = None,
    ) -> ParsedDefinition:
        """Parse a BPMN document, the files it travels with, and collect the forms it references.

        Args:
            bpmn: the main BPMN document, in any encoding its BOM or declaration names.
            forms: JSON file name -> JSON Schema form or UI schema (text or parsed).
            filename: the main document's file name.
            process_id: the process to run (default: the one executable process not called by
                another of the document).
            files: the rest of the bundle: BPMN files of called processes and DMN decision
                tables (``*.dmn``), by file name.

        Raises:
            DefinitionError: unsafe or malformed XML, XSD violations, parser errors, flows that
                join nothing; every issue names its element and what to do.
        """
        extra = dict(files or {})
        try:
            # decoded by its BOM or declaration, kept as UTF-8 with a declaration saying so
            raw = to_utf8(bpmn)
            tree = parse_xml(raw, max_bytes=self.max_bytes)
            extra_raw = {name: to_utf8(content) for name, content in sorted(extra.items())}
            extra_trees = {n: parse_xml(data, max_bytes=self.max_bytes) for n, data in extra_raw.items()}
        except XmlError as exc:
            raise DefinitionError([LintIssue(None, str(exc), "xml", hint=_XML_HINT)]) from exc
        names = element_names(tree.getroot())
        dangling = dangling_flows(tree.getroot())
        if dangling:
            raise DefinitionError(_named(dangling, names))
        decisions = set().union(*(_decision_ids(t) for t in extra_trees.values() if _is_dmn(t)))
        processes = {str(p.get("id")) for t in [tree, *extra_trees.values()] for p in _processes(t)}
        try:
            pid = process_id or _executable_process(tree)
        except DefinitionError as exc:
            raise DefinitionError(_named(exc.issues, names)) from exc
        # what Baton cannot run, found on the XML: SpiffWorkflow stops at the first of these
        # with words of its own ("A Service Task must have an operator")
        unrunnable = list(
            runnable_issues(
                tree.getroot(), {pid}, processes=processes, decisions=decisions, connectors=self.connectors
            )
        )
        parser = SpiffBpmnParser(validator=VALIDATOR)
        try:
            parser.add_bpmn_xml(tree, filename=filename)
            for name, other in extra_trees.items():
                if _is_dmn(other):
                    parser.add_dmn_xml(other.getroot(), filename=name)
                else:
                    names.update(element_names(other.getroot()))
                    parser.add_bpmn_xml(other, filename=name)
            spec = parser.get_spec(pid)
            subprocess_specs = parser.get_subprocess_specs(pid, require_call_activity_specs=False)
        except ValidationException as exc:
            raise DefinitionError(_named(unrunnable or [_validation_issue(exc)], names)) from exc
        except (SpiffWorkflowException, KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
            # SpiffWorkflow's own words here are Python internals: say what it was reading
            where = getattr(exc, "id", None) or None
            issue = LintIssue(
                where,
                f"SpiffWorkflow cannot build the process from this file ({type(exc).__name__})",
                "bpmn",
                hint="look for elements Baton does not run, remove them and validate again",
            )
            raise DefinitionError(_named(unrunnable or [issue], names)) from exc
        defn = ParsedDefinition(
            process_id=pid,
            name=clean(spec.description) or pid,
            bpmn_xml=raw.decode("utf-8"),
            spec=spec,
            subprocess_specs={k: v for k, v in subprocess_specs.items() if v is not None},
            forms={},
            lanes=_lane_names(tree),
            lane_ids=_lane_ids(tree),
            content_hash="",
            tree=tree,
            names=names,
            processes=frozenset(processes),
            decisions=frozenset(decisions),
            connectors=frozenset(self.connectors),
            files={name: content.decode("utf-8") for name, content in extra_raw.items()},
        )
        self._attach_forms(defn, forms or {})
        defn.content_hash = _content_hash(raw, defn.forms, defn.files)
        return defn

    def _attach_forms(self, defn: ParsedDefinition, forms: Mapping[str, Any]) -> None:
        for ts in defn.human_task_specs():
            ui_name = properties_of(ts).get(UI_SCHEMA_PROPERTY)
            if ui_name is not None and ui_name not in defn.forms:
                ui, problem = _load_json_object(forms.get(ui_name))
                if problem:
                    defn.form_problems[ui_name] = problem
                else:
                    defn.forms[ui_name] = ui  # a UI schema travels with the version as it is
            name = properties_of(ts).get(FORM_PROPERTY)
            if name is not None:
                self._attach_schema(defn, name, forms)
        for _ts, name in _options_references(defn):
            self._attach_schema(defn, name, forms)

    @staticmethod
    def _attach_schema(defn: ParsedDefinition, name: str, forms: Mapping[str, Any]) -> None:
        """Load one JSON Schema (a form or an options schema) into the version, or note its problem."""
        if name in defn.forms or name in defn.form_problems:
            return
        if name not in forms:
            defn.form_problems[name] = "file not found"
            return
        schema, problem = _load_form(forms[name])
        if problem:
            defn.form_problems[name] = problem
        else:
            assert schema is not None
            defn.forms[name] = schema

    def lint(self, defn: ParsedDefinition) -> list[LintIssue]:
        """Run every lint rule; an empty list means the definition may be deployed.

        Every issue comes back with its element's name (on one line) and a hint for its kind
        when the rule gave none.
        """
        issues: list[LintIssue] = []
        for rule in self.rules:
            issues.extend(rule(defn))
        # a script or condition in another language does not compile as Python either: say it once
        foreign = {i.element_id for i in issues if i.code in FOREIGN_CODE}
        issues = [i for i in issues if not (i.element_id in foreign and i.code in ("script", "condition"))]
        return _named(issues, defn.names, self.hints)

    def validate(
        self, bpmn: bytes | str, forms: Mapping[str, Any] | None = None, **kw: Any
    ) -> list[LintIssue]:
        """Parse and lint without deploying; returns every problem found."""
        try:
            return self.lint(self.parse(bpmn, forms, **kw))
        except DefinitionError as exc:
            return list(exc.issues)

    # deployment and lookup

    def deploy(
        self,
        session: Session,
        bpmn: bytes | str,
        forms: Mapping[str, Any] | None = None,
        *,
        note: str = "",
        actor: str | None = None,
        now: datetime | None = None,
        filename: str = "definition.bpmn",
        files: Mapping[str, bytes | str] | None = None,
    ) -> tuple[DefinitionVersion, bool]:
        """Validate and store a new version (idempotent for identical content).

        `files` are the rest of the bundle (see `parse`); they are stored with the version.

        Returns:
            The version row, and True when it was created by this call.

        Raises:
            DefinitionError: the definition is refused; nothing is stored.
            ConflictError: another deployment of the same process raced this one.
        """
        defn = self.parse(bpmn, forms, filename=filename, files=files)
        issues = self.lint(defn)
        if issues:
            raise DefinitionError(issues)
        existing = session.scalar(
            select(DefinitionVersion).where(
                DefinitionVersion.process_id == defn.process_id,
                DefinitionVersion.content_hash == defn.content_hash,
            )
        )
        if existing is not None:
            return existing, False
        last = session.scalar(
            select(func.max(DefinitionVersion.version)).where(DefinitionVersion.process_id == defn.process_id)
        )
        row = DefinitionVersion(
            process_id=defn.process_id,
            version=(last or 0) + 1,
            name=defn.name,
            content_hash=defn.content_hash,
            bpmn_xml=defn.bpmn_xml,
            forms=defn.forms,
            files=defn.files,
            spec_json=self.codec.spec_to_json(defn.spec, defn.subprocess_specs),
            serializer_version=SERIALIZER_VERSION,
            note=note,
            deployed_by=actor,
            deployed_at=now or datetime.now(UTC),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError as exc:
            raise ConflictError(
                f"another version of {defn.process_id} was deployed at the same time"
            ) from exc
        return row, True

    def latest(self, session: Session, process_id: str) -> DefinitionVersion:
        """The newest deployed version of a process.

        Raises:
            NotFoundError: nothing of that process was deployed.
        """
        row = session.scalar(
            select(DefinitionVersion)
            .where(DefinitionVersion.process_id == process_id)
            .order_by(DefinitionVersion.version.desc())
            .limit(1)
        )
        if row is None:
            raise NotFoundError(f"no deployed definition '{process_id}'")
        return row

    def get(self, session: Session, definition_id: int) -> DefinitionVersion:
        """A version by its id (raises NotFoundError)."""
        row = session.get(DefinitionVersion, definition_id)
        if row is None:
            raise NotFoundError(f"no definition version {definition_id}")
        return row

    def list_versions(self, session: Session, process_id: str | None = None) -> list[DefinitionVersion]:
        """All versions, newest first per process."""
        stmt = select(DefinitionVersion).order_by(
            DefinitionVersion.process_id, DefinitionVersion.version.desc()
        )
        if process_id is not None:
            stmt = stmt.where(DefinitionVersion.process_id == process_id)
        return list(session.scalars(stmt))

    def info(self, session: Session, definition_id: int) -> DefinitionInfo:
        """A version by id, from the process-wide cache (versions never change).

        Raises:
            NotFoundError: no such version.
        """
        info = self._infos.get(definition_id)
        if info is None:
            info = DefinitionInfo.of(self.get(session, definition_id))
            with self._lock:
                self._infos[definition_id] = info
        return info

    def spec_for(self, info: DefinitionInfo | DefinitionVersion) -> tuple[Any, dict[str, Any]]:
        """The live spec objects of a version (cached: versions never change)."""
        cached = self._specs.get(info.id)
        if cached is None:
            cached = self.codec.spec_from_json(info.spec_json)
            with self._lock:
                self._specs.setdefault(info.id, cached)
        return cached

    def form_validator(self, info: DefinitionInfo | DefinitionVersion, form: str) -> Validator | None:
        """A cached validator for one of a version's forms (None if it has no such form)."""
        key = (info.id, form)
        validator = self._validators.get(key)
        if validator is None:
            schema = info.forms.get(form)
            if schema is None:
                return None
            validator = make_form_validator(schema)
            with self._lock:
                self._validators[key] = validator
        return validator

    def options_schema(self, info: DefinitionInfo | DefinitionVersion) -> dict[str, Any] | None:
        """The JSON Schema a version's start options must satisfy (None: it declares none)."""
        spec, _subprocesses = self.spec_for(info)
        for ts in spec.task_specs.values():
            name = properties_of(ts).get(OPTIONS_PROPERTY)
            if name is not None:
                schema = info.forms.get(name)
                return dict(schema) if schema is not None else None
        return None

    def clear_caches(self) -> None:
        """Forget parsed specs and validators (benchmarks measure cold starts with it)."""
        with self._lock:
            self._infos.clear()
            self._specs.clear()
            self._validators.clear()


def _processes(tree: Any) -> list[Any]:
    return list(tree.getroot().findall(f"{{{BPMN_NS}}}process"))


def _executable_process(tree: Any) -> str:
    """The process Baton runs: as SpiffWorkflow, a process without ``isExecutable`` counts as
    executable; processes the document's call activities call are not the main one.

    Raises:
        DefinitionError: no process, or several that could be the one.
    """
    root = tree.getroot()
    processes = _processes(tree)
    if not processes:
        raise DefinitionError(
            [LintIssue(None, "the file has no process (bpmn:process)", "executable", hint=_XML_HINT)]
        )
    called = {c.get("calledElement") for c in root.iter(f"{{{BPMN_NS}}}callActivity")}
    executable = [p for p in processes if p.get("isExecutable", "true").lower() == "true"]
    candidates = [p for p in executable if p.get("id") not in called] or executable
    if len(candidates) == 1:
        return str(candidates[0].get("id"))
    if len(processes) == 1:
        return str(processes[0].get("id"))  # not executable: SpiffWorkflow says so, with our hint
    listed = ", ".join(f"'{clean(p.get('name')) or p.get('id')}' ({p.get('id')})" for p in candidates)
    raise DefinitionError(
        [
            LintIssue(
                None,
                f"the file has {len(candidates)} executable processes ({listed or 'none'});"
                ' Baton runs the one process marked isExecutable="true"',
                "executable",
                hint='tick "Executable" (isExecutable="true") on the process Baton runs and untick the others'
                " (processes it calls may stay executable)",
            )
        ]
    )


def _lane_names(tree: Any) -> list[str]:
    return [str(lane.get("name") or lane.get("id")) for lane in tree.getroot().iter(f"{{{BPMN_NS}}}lane")]


def _lane_ids(tree: Any) -> dict[str, str]:
    lanes = tree.getroot().iter(f"{{{BPMN_NS}}}lane")
    return {str(lane.get("name") or lane.get("id")): str(lane.get("id")) for lane in lanes if lane.get("id")}


def _content_hash(bpmn: bytes, forms: Mapping[str, Any], files: Mapping[str, str] | None = None) -> str:
    digest = hashlib.sha256(bpmn)
    digest.update(b"\0")
    digest.update(json.dumps(forms, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    if files:  # a single-file version hashes as it always did
        digest.update(b"\0")
        digest.update(json.dumps(files, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return digest.hexdigest()


FOREIGN_CODE = ("script-format", "condition-language")
_XML_HINT = "save the file again from a BPMN modeler; it must be well-formed XML without a DOCTYPE"
DEFAULT_HINTS: dict[str, str] = {
    "bpmn": "fix the element named, then validate again",
    "lane": "move the step into a lane (drag it onto one)",
    "form": "pick an existing form for the step, or create it in the form editor",
    "condition": "write the condition as a Python expression over the form's fields",
    "script": "correct the Python script of the step",
    "timer": 'write the timer as a quoted ISO 8601 value, e.g. "P2D" or "PT4H"',
}
_NOT_EXECUTABLE = "Process {pid} is not executable."


def _named(
    issues: Iterable[LintIssue], names: Mapping[str, str], hints: Mapping[str, str] | None = None
) -> list[LintIssue]:
    hints = DEFAULT_HINTS if hints is None else hints
    out = []
    for issue in issues:
        name = issue.element_name or (names.get(issue.element_id, "") if issue.element_id else "")
        hint = issue.hint or hints.get(issue.code, "")
        out.append(replace(issue, element_name=name, hint=hint, message=clean(issue.message)))
    return out


def _validation_issue(exc: ValidationException) -> LintIssue:
    """SpiffWorkflow's validation error in Baton's words: its first sentence on one line, where."""
    eid = getattr(exc, "id", None) or None
    text = clean(str(exc.args[0]) if exc.args else str(exc)).rstrip(".")
    if eid and text == _NOT_EXECUTABLE.format(pid=eid).rstrip("."):
        return LintIssue(
            eid,
            f"process {eid} is marked not executable",
            "executable",
            hint='tick "Executable" on the process (isExecutable="true") so Baton may run it',
        )
    line = getattr(exc, "line_number", None)
    if line:
        text = f"{text} (line {line})"
    return LintIssue(eid, text, "bpmn")


def _is_dmn(tree: Any) -> bool:
    return local(tree.getroot().tag) == "definitions" and "dmn" in str(tree.getroot().tag).lower()


def _decision_ids(tree: Any) -> set[str]:
    return {str(e.get("id")) for e in tree.getroot().iter() if local(e.tag) == "decision" and e.get("id")}
