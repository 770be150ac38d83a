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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
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
from .models import DefinitionVersion
from .sandbox import check_expression, check_script
from .serialization import SERIALIZER_VERSION, WorkflowCodec
from .xmlsafe import XmlError, parse_xml, to_utf8

FORM_PROPERTY = "formJsonSchemaFilename"
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
    """Referenced forms must exist and be valid JSON Schema."""
    for ts in defn.human_task_specs():
        form = properties_of(ts).get(FORM_PROPERTY)
        if form is None:
            continue
        problem = defn.form_problems.get(form)
        if problem:
            yield LintIssue(element_id(ts), f"form {form}: {problem}", "form")


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


DEFAULT_RULES: tuple[LintRule, ...] = (rule_human_tasks_in_lanes, rule_forms, rule_expressions)


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
    return raw, None


def make_form_validator(schema: dict[str, Any]) -> Validator:
    """A validator for a form schema, with format checks (dates, e-mails...) switched on."""
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=FormatChecker())


# -- the registry --------------------------------------------------------------------


class DefinitionRegistry:
    """Parses, validates, deploys and serves definition versions.

    Args:
        codec: serializes specs for storage.
        rules: extra lint rules (run after the built-in ones).
        max_bytes: largest BPMN document accepted.
    """

    def __init__(
        self, codec: WorkflowCodec, rules: Sequence[LintRule] = (), max_bytes: int = 5 * 1024 * 1024
    ) -> None:
        self.codec = codec
        self.rules: list[LintRule] = [*DEFAULT_RULES, *rules]
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
    ) -> ParsedDefinition:
        """Parse a BPMN document and collect the forms it references.

        Raises:
            DefinitionError: unsafe or malformed XML, XSD violations, parser errors.
        """
        try:
            # decoded by its BOM or declaration, kept as UTF-8 with a declaration saying so
            raw = to_utf8(bpmn)
            tree = parse_xml(raw, max_bytes=self.max_bytes)
        except XmlError as exc:
            raise DefinitionError([LintIssue(None, str(exc), "xml")]) from exc
        parser = SpiffBpmnParser(validator=VALIDATOR)
        try:
            parser.add_bpmn_xml(tree, filename=filename)
            pid = process_id or _executable_process(tree)
            spec = parser.get_spec(pid)
            subprocess_specs = parser.get_subprocess_specs(pid)
        except ValidationException as exc:
            eid = getattr(exc, "id", None) or None
            line = getattr(exc, "line_number", None)
            msg = str(exc).split("\n")[0]
            if line:
                msg = f"{msg} (line {line})"
            raise DefinitionError([LintIssue(eid, msg, "bpmn")]) from exc
        except (SpiffWorkflowException, KeyError, ValueError) as exc:
            raise DefinitionError([LintIssue(None, f"cannot build the process: {exc}", "bpmn")]) from exc
        defn = ParsedDefinition(
            process_id=pid,
            name=spec.description or pid,
            bpmn_xml=raw.decode("utf-8"),
            spec=spec,
            subprocess_specs=subprocess_specs,
            forms={},
            lanes=_lane_names(tree),
            lane_ids=_lane_ids(tree),
            content_hash="",
        )
        self._attach_forms(defn, forms or {})
        defn.content_hash = _content_hash(raw, defn.forms)
        return defn

    def _attach_forms(self, defn: ParsedDefinition, forms: Mapping[str, Any]) -> None:
        for ts in defn.human_task_specs():
            name = properties_of(ts).get(FORM_PROPERTY)
            if name is None or name in defn.forms or name in defn.form_problems:
                continue
            if name not in forms:
                defn.form_problems[name] = "file not found"
                continue
            schema, problem = _load_form(forms[name])
            if problem:
                defn.form_problems[name] = problem
            else:
                assert schema is not None
                defn.forms[name] = schema

    def lint(self, defn: ParsedDefinition) -> list[LintIssue]:
        """Run every lint rule; an empty list means the definition may be deployed."""
        issues: list[LintIssue] = []
        for rule in self.rules:
            issues.extend(rule(defn))
        return issues

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
    ) -> tuple[DefinitionVersion, bool]:
        """Validate and store a new version (idempotent for identical content).

        Returns:
            The version row, and True when it was created by this call.

        Raises:
            DefinitionError: the definition is refused; nothing is stored.
            ConflictError: another deployment of the same process raced this one.
        """
        defn = self.parse(bpmn, forms, filename=filename)
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

    def clear_caches(self) -> None:
        """Forget parsed specs and validators (benchmarks measure cold starts with it)."""
        with self._lock:
            self._infos.clear()
            self._specs.clear()
            self._validators.clear()


def _executable_process(tree: Any) -> str:
    processes = tree.getroot().findall(f"{{{BPMN_NS}}}process")
    executable = [p.get("id") for p in processes if p.get("isExecutable", "false").lower() == "true"]
    if len(executable) == 1:
        return str(executable[0])
    if not processes:
        raise ValidationException("the document has no bpmn:process")
    if len(processes) == 1:
        return str(processes[0].get("id"))
    raise ValidationException(
        f'the document has {len(executable)} executable processes; mark exactly one isExecutable="true"'
    )


def _lane_names(tree: Any) -> list[str]:
    return [str(lane.get("name") or lane.get("id")) for lane in tree.getroot().iter(f"{{{BPMN_NS}}}lane")]


def _lane_ids(tree: Any) -> dict[str, str]:
    lanes = tree.getroot().iter(f"{{{BPMN_NS}}}lane")
    return {str(lane.get("name") or lane.get("id")): str(lane.get("id")) for lane in lanes if lane.get("id")}


def _content_hash(bpmn: bytes, forms: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(bpmn)
    digest.update(b"\0")
    digest.update(json.dumps(forms, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return digest.hexdigest()
