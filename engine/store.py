"""Instance persistence: load, save only what changed, and keep hot workflows in memory.

A live workflow is checked out of the cache for one step and returned only after the
step's transaction commits. A step that fails leaves nothing behind: the database rolls
back and the mutated in-memory workflow is dropped. The cache is version-checked: an
instance changed by another process (higher `revision`) is reloaded from the database.

The step path uses SQLAlchemy Core statements built once, on the session's connection:
a completion costs a handful of statements whatever the instance's history. A batch of steps
(the timer worker's) announces its instances with `expect_checkouts` and reads them together.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, cast

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import BindParameter, Connection, Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from .compaction import Compaction
from .db import after_commit
from .definitions import DefinitionInfo, DefinitionRegistry
from .errors import ConflictError, InstanceEndedError, NotFoundError
from .fastsql import FastStatement, fetch_together, holding_writes, pipeline
from .models import HumanTask, TaskData, TaskRow, TimerDue, WorkflowInstance
from .serialization import (
    COUNTERS_KEY,
    SERIALIZER_VERSION,
    Frontier,
    StoredTask,
    TaskDiff,
    WorkflowCodec,
    diff_tasks,
)

_INSTANCE = cast(Table, WorkflowInstance.__table__)
_TASK_ROW = cast(Table, TaskRow.__table__)
_TASK_DATA = cast(Table, TaskData.__table__)

_HUMAN_TASK = cast(Table, HumanTask.__table__)
_TIMER = cast(Table, TimerDue.__table__)

_SELECT_HEAD = select(
    _INSTANCE.c.id,
    _INSTANCE.c.definition_id,
    _INSTANCE.c.revision,
    _INSTANCE.c.status,
    _INSTANCE.c.active_stages,
    _INSTANCE.c.serializer_version,
    _INSTANCE.c.meta_json,
    _INSTANCE.c.facts,
)
_SELECT_ROWS = select(
    _TASK_ROW.c.id, _TASK_ROW.c.workflow_key, _TASK_ROW.c.body, _TASK_ROW.c.data_hash, _TASK_DATA.c.body
).join(_TASK_DATA, _TASK_DATA.c.hash == _TASK_ROW.c.data_hash)
_SELECT_OPEN = select(_HUMAN_TASK.c.task_id).where(_HUMAN_TASK.c.state == "ready")
_SELECT_TIMERS = select(_TIMER.c.task_id, _TIMER.c.due_at)
# one instance, on the step path: prepared statements, the three tree reads in one round trip
_ONE: BindParameter[int] = bindparam("instance_id")
_HEADS = {
    "plain": FastStatement(_SELECT_HEAD.where(_INSTANCE.c.id == _ONE)),
    "locked": FastStatement(_SELECT_HEAD.where(_INSTANCE.c.id == _ONE).with_for_update()),
}
_TREE_OF_ONE = (
    FastStatement(_SELECT_ROWS.where(_TASK_ROW.c.instance_id == _ONE)),
    FastStatement(_SELECT_OPEN.where(_HUMAN_TASK.c.instance_id == _ONE)),
    FastStatement(_SELECT_TIMERS.where(_TIMER.c.instance_id == _ONE)),
)
# many instances at once (`expect_checkouts`): heads locked in id order, so two batches
# that share instances queue instead of deadlocking
_MANY: BindParameter[list[int]] = bindparam("ids", expanding=True)
_HEADS_OF_MANY = {
    "plain": _SELECT_HEAD.where(_INSTANCE.c.id.in_(_MANY)).order_by(_INSTANCE.c.id),
    "locked": _SELECT_HEAD.where(_INSTANCE.c.id.in_(_MANY)).order_by(_INSTANCE.c.id).with_for_update(),
}
_TREES_OF_MANY = (
    _SELECT_ROWS.add_columns(_TASK_ROW.c.instance_id).where(_TASK_ROW.c.instance_id.in_(_MANY)),
    _SELECT_OPEN.add_columns(_HUMAN_TASK.c.instance_id).where(_HUMAN_TASK.c.instance_id.in_(_MANY)),
    _SELECT_TIMERS.add_columns(_TIMER.c.instance_id).where(_TIMER.c.instance_id.in_(_MANY)),
)
# SET columns come from the parameters of each call
_UPDATE_HEAD = FastStatement(
    update(_INSTANCE).where(
        _INSTANCE.c.id == bindparam("b_id"), _INSTANCE.c.revision == bindparam("b_revision")
    ),
    one_row_each=True,
)
_DELETE_ROW = FastStatement(
    delete(_TASK_ROW).where(
        _TASK_ROW.c.instance_id == bindparam("b_instance"), _TASK_ROW.c.id == bindparam("b_task")
    )
)


def _upserts(ins: Any) -> tuple[FastStatement, FastStatement]:
    data = ins(_TASK_DATA)
    if ins is postgresql.insert:
        # DO UPDATE locks the row: a concurrent `_COLLECT_DATA` (which skips locked rows) cannot
        # delete a payload this step is about to reference; once it has, the insert re-checks
        data = data.on_conflict_do_update(index_elements=["hash"], set_={"body": data.excluded.body})
    else:
        data = data.on_conflict_do_nothing(index_elements=["hash"])
    rows = ins(_TASK_ROW)
    rows = rows.on_conflict_do_update(
        index_elements=["instance_id", "id"],
        set_={
            "workflow_key": rows.excluded.workflow_key,
            "body": rows.excluded.body,
            "data_hash": rows.excluded.data_hash,
        },
    )
    return FastStatement(data), FastStatement(rows)


_UPSERTS = {"postgresql": _upserts(postgresql.insert), "sqlite": _upserts(sqlite.insert)}
_DELETE_ALL_ROWS = FastStatement(delete(_TASK_ROW).where(_TASK_ROW.c.instance_id == bindparam("b_instance")))
# Task data no task row references any more (content-addressed payloads are shared between
# instances). Defined after the row statements: `deferred_writes` sends in definition order.
_UNREFERENCED = ~select(_TASK_ROW.c.id).where(_TASK_ROW.c.data_hash == _TASK_DATA.c.hash).exists()
_COLLECT_DATA = {
    "sqlite": FastStatement(
        delete(_TASK_DATA).where(_TASK_DATA.c.hash == bindparam("b_hash"), _UNREFERENCED)
    ),
    "postgresql": FastStatement(
        delete(_TASK_DATA).where(
            _TASK_DATA.c.hash.in_(
                select(_TASK_DATA.c.hash)
                .where(_TASK_DATA.c.hash == bindparam("b_hash"), _UNREFERENCED)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
        )
    ),
}


class HeadRow(NamedTuple):
    """The instance row as read by a step."""

    id: int
    definition_id: int
    revision: int
    status: str
    active_stages: list[str] | None
    serializer_version: str
    meta_json: str
    facts: dict[str, Any] | None


def _read_head(conn: Connection, instance_id: int, *, lock: bool) -> HeadRow | None:
    stmt = _HEADS["locked" if lock and conn.dialect.name == "postgresql" else "plain"]
    rows = stmt.fetchall(conn, {"instance_id": instance_id})
    return HeadRow(*rows[0]) if rows else None


@dataclass
class _Tree:
    """What the database holds of an instance besides its head."""

    rows: dict[str, StoredTask] = field(default_factory=dict)
    payloads: dict[str, str] = field(default_factory=dict)  # data hash -> data JSON
    open_tasks: set[str] = field(default_factory=set)
    timers: dict[str, datetime] = field(default_factory=dict)

    def add_row(self, task_id: str, key: str, body: str, dhash: str, payload: str) -> None:
        self.rows[task_id] = StoredTask(key, body, dhash)
        self.payloads[dhash] = payload


def _read_tree(conn: Connection, instance_id: int) -> _Tree:
    params = {"instance_id": instance_id}
    rows, open_tasks, timers = fetch_together(conn, [(stmt, params) for stmt in _TREE_OF_ONE])
    tree = _Tree(open_tasks={r[0] for r in open_tasks}, timers=dict(timers))
    for row in rows:
        tree.add_row(*row)
    return tree


def _read_trees(conn: Connection, instance_ids: list[int]) -> dict[int, _Tree]:
    trees = {i: _Tree() for i in instance_ids}
    rows, open_tasks, timers = (conn.execute(stmt, {"ids": instance_ids}) for stmt in _TREES_OF_MANY)
    for *row, instance_id in rows:
        trees[instance_id].add_row(*row)
    for task_id, instance_id in open_tasks:
        trees[instance_id].open_tasks.add(task_id)
    for task_id, due_at, instance_id in timers:
        trees[instance_id].timers[task_id] = due_at
    return trees


_PRELOADED = "baton.preloaded"  # session.info key of `expect_checkouts`


@dataclass
class _Preloaded:
    transaction: SessionTransaction | None  # the transaction the heads were locked in
    expected: set[int] = field(default_factory=set)  # announced, not read yet
    read: dict[int, tuple[HeadRow, _Tree | None]] = field(default_factory=dict)  # None: cached


def expect_checkouts(session: Session, instance_ids: Iterable[int]) -> None:
    """Announce the instances this unit of work is about to check out (a batch of steps).

    The first `InstanceStore.checkout` of one of them reads the heads of all of them
    (locked, in id order) and the trees of those not cached in a few statements for the
    batch, instead of two round trips per instance. The announcement lasts until the
    transaction ends; the caller must not change an announced instance by other means
    before checking it out. A lone instance is read the usual way (prepared statements).
    """
    instance_ids = list(instance_ids)
    if len(instance_ids) < 2:
        return
    preloaded = session.info.get(_PRELOADED)
    if preloaded is None or preloaded.transaction is not session.get_transaction():
        session.connection()  # begin the transaction the announcement belongs to
        preloaded = session.info[_PRELOADED] = _Preloaded(session.get_transaction())
    preloaded.expected.update(i for i in instance_ids if i not in preloaded.read)


PAYLOAD_MEMORY = 200_000  # remembered task-data hashes before the memory is reset


@dataclass
class InstanceHead:
    """The instance row as a step needs it (a plain copy, not an ORM object)."""

    id: int
    definition_id: int
    revision: int
    status: str
    active_stages: list[str]
    facts: dict[str, Any] | None = None  # as stored: a step writes them only when they change


@dataclass
class LiveInstance:
    """A workflow in memory together with what the database holds of it."""

    instance_id: int
    definition_id: int
    revision: int
    workflow: BpmnWorkflow
    rows: dict[str, StoredTask]
    open_human_tasks: set[str] = field(default_factory=set)
    # unfinished tasks as of the last save: where the next step's changes can happen
    frontier: Frontier | None = None
    # task id -> due time of the timers the instance waits on, as stored in timer_due
    timers: dict[str, datetime] = field(default_factory=dict)
    # Baton's counters kept in the meta document: {"runs": {"<key>/<spec>": completed runs
    # compaction took out of the tree}}
    counters: dict[str, Any] = field(default_factory=dict)


class WorkflowCache:
    """A bounded LRU of live workflows, handed out to one step at a time.

    Args:
        capacity: how many instances to keep warm; 0 disables caching.
    """

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, LiveInstance] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: int, revision: int) -> LiveInstance | None:
        """Remove and return the cached instance if it is at `revision`."""
        with self._lock:
            live = self._items.pop(instance_id, None)
        if live is not None and live.revision == revision:
            return live
        return None

    def holds(self, instance_id: int, revision: int) -> bool:
        """True if the instance is cached at `revision` (left in place)."""
        live = self.peek(instance_id)
        return live is not None and live.revision == revision

    def peek(self, instance_id: int) -> LiveInstance | None:
        """The cached instance, left in place (tests compare it with the database)."""
        with self._lock:
            return self._items.get(instance_id)

    def put(self, live: LiveInstance) -> None:
        """Keep an instance warm (after its step committed)."""
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[live.instance_id] = live
            self._items.move_to_end(live.instance_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (benchmarks use it to measure cold loads)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class InstanceStore:
    """Loads and saves workflow instances as per-task rows.

    Args:
        codec: the workflow codec.
        definitions: the definition registry (for cached specs).
        script_engine: factory for the script engine every loaded workflow runs with.
        cache: the live-workflow cache.
        verify: after every save, re-encode the whole workflow and fail if the incremental
            rows differ (tests switch it on; it costs a full serialization per step).
    """

    def __init__(
        self,
        codec: WorkflowCodec,
        definitions: DefinitionRegistry,
        script_engine: Callable[[], Any],
        cache: WorkflowCache | None = None,
        *,
        verify: bool = False,
    ) -> None:
        self.verify = verify
        self.codec = codec
        self.definitions = definitions
        self.script_engine = script_engine()
        self.cache = cache if cache is not None else WorkflowCache()

    # -- creating and loading --------------------------------------------------------

    def new_workflow(self, definition: DefinitionInfo) -> BpmnWorkflow:
        """A fresh workflow for a definition version, bound to the sandboxed script engine."""
        spec, subs = self.definitions.spec_for(definition)
        return BpmnWorkflow(spec, subs, script_engine=self.script_engine)

    def checkout(
        self, session: Session, instance_id: int, *, lock: bool = True
    ) -> tuple[InstanceHead, LiveInstance]:
        """Fetch an instance's head and its live workflow for a step.

        Args:
            session: the unit of work.
            instance_id: the instance.
            lock: take a row lock (PostgreSQL) so concurrent steps queue and then see the
                new revision instead of interleaving. SQLite writers already queue.

        Raises:
            NotFoundError: no such instance.
        """
        conn = session.connection()
        row, tree = self._take_preloaded(session, instance_id)
        if row is None:
            row = _read_head(conn, instance_id, lock=lock)
        if row is None:
            raise NotFoundError(f"no instance {instance_id}")
        head = InstanceHead(
            row.id, row.definition_id, row.revision, row.status, list(row.active_stages or []), row.facts
        )
        live = self.cache.take(instance_id, row.revision)
        if live is None:
            live = self._load(session, row, tree or _read_tree(conn, row.id))
        return head, live

    def load(self, session: Session, instance_id: int) -> BpmnWorkflow:
        """A private copy of an instance's workflow, always read from the database."""
        conn = session.connection()
        row = _read_head(conn, instance_id, lock=False)
        if row is None:
            raise NotFoundError(f"no instance {instance_id}")
        return self._load(session, row, _read_tree(conn, instance_id)).workflow

    def read(self, session: Session, instance_id: int) -> tuple[InstanceHead, BpmnWorkflow]:
        """An instance's head and a private copy of its workflow, read from the database (no lock).

        Raises:
            NotFoundError: no such instance.
        """
        conn = session.connection()
        row = _read_head(conn, instance_id, lock=False)
        if row is None:
            raise NotFoundError(f"no instance {instance_id}")
        head = InstanceHead(
            row.id, row.definition_id, row.revision, row.status, list(row.active_stages or []), row.facts
        )
        return head, self._load(session, row, _read_tree(conn, instance_id)).workflow

    def read_many(
        self, session: Session, instance_ids: list[int], chunk: int = 200
    ) -> Iterable[tuple[InstanceHead, BpmnWorkflow]]:
        """Heads and private copies of the workflows of many instances, read together (a few
        statements per `chunk`), for read-only work over many (a migration's dry run). Never
        the cached live workflows: a step may be changing one meanwhile.
        """
        conn = session.connection()
        for at in range(0, len(instance_ids), chunk):
            ids = instance_ids[at : at + chunk]
            heads = [HeadRow(*r) for r in conn.execute(_HEADS_OF_MANY["plain"], {"ids": ids})]
            trees = _read_trees(conn, [h.id for h in heads])
            for row in heads:
                head = InstanceHead(
                    row.id,
                    row.definition_id,
                    row.revision,
                    row.status,
                    list(row.active_stages or []),
                    row.facts,
                )
                yield head, self._load(session, row, trees[row.id]).workflow

    def _take_preloaded(self, session: Session, instance_id: int) -> tuple[HeadRow | None, _Tree | None]:
        preloaded = session.info.get(_PRELOADED)
        if preloaded is None or preloaded.transaction is not session.get_transaction():
            return None, None  # nothing announced, or read by a transaction that has ended
        if instance_id in preloaded.expected:
            self._preload(session, preloaded)
        return preloaded.read.pop(instance_id, (None, None))

    def _preload(self, session: Session, preloaded: _Preloaded) -> None:
        conn = session.connection()
        ids = sorted(preloaded.expected)
        preloaded.expected.clear()
        locked = "locked" if conn.dialect.name == "postgresql" else "plain"
        heads = [HeadRow(*r) for r in conn.execute(_HEADS_OF_MANY[locked], {"ids": ids})]
        cold = [h.id for h in heads if not self.cache.holds(h.id, h.revision)]
        trees = _read_trees(conn, cold) if cold else {}
        preloaded.read.update({h.id: (h, trees.get(h.id)) for h in heads})

    def _load(self, session: Session, head: HeadRow, tree: _Tree) -> LiveInstance:
        rows, payloads = tree.rows, tree.payloads
        if not rows and head.status != "running":
            raise InstanceEndedError(head.id, head.status)
        definition = self.definitions.info(session, head.definition_id)
        if self.codec.needs_migration(head.serializer_version):
            dicts = self.codec.spec_dicts(definition.spec_json)
            dct = self.codec.assemble(
                head.meta_json, rows, payloads, dicts["spec"], dicts["subprocess_specs"]
            )
            rows = {}  # every row is rewritten in the current format at the next save
        else:
            spec, subs = self.definitions.spec_for(definition)
            dct = self.codec.assemble(head.meta_json, rows, payloads, spec, subs)
        counters = dct.pop(COUNTERS_KEY, None) or {}
        workflow = self.codec.restore(dct, head.serializer_version)
        workflow.script_engine = self.script_engine
        live = LiveInstance(head.id, head.definition_id, head.revision, workflow, rows, tree.open_tasks)
        live.timers = tree.timers
        live.counters = counters
        return live

    # -- saving ----------------------------------------------------------------------

    def insert(self, session: Session, row: WorkflowInstance, live: LiveInstance, frontier: Frontier) -> None:
        """Store a new instance: its row, every task and its meta document.

        Args:
            frontier: the new workflow's frontier (the caller has computed it already).
        """
        meta, rows, payloads = self.codec.encode_all(live.workflow)
        row.meta_json = meta
        row.serializer_version = SERIALIZER_VERSION
        session.add(row)
        session.flush()
        live.instance_id = row.id
        live.revision = row.revision
        self._write_rows(session, row.id, TaskDiff(upserts=rows, payloads=payloads))
        live.rows = rows
        live.frontier = frontier
        after_commit(session, lambda: self.cache.put(live))

    def diff(self, live: LiveInstance, since: float, compaction: Compaction | None = None) -> TaskDiff:
        """What a step changed (see `engine.serialization.diff_tasks`)."""
        return diff_tasks(self.codec, live.workflow, live.rows, since, live.frontier, compaction)

    def save(
        self,
        session: Session,
        head: InstanceHead,
        live: LiveInstance,
        diff: TaskDiff,
        values: Mapping[str, Any],
        now: datetime,
        also: Callable[[], object] | None = None,
        *,
        ending: bool = False,
    ) -> int:
        """Write a step: the instance row (guarded by its revision) and the changed tasks.

        A step that ends the instance (`ending`) writes no task rows: the instance's runtime --
        its task rows and the task data nobody else references -- goes in the same
        transaction, and what remains is its head (with the final workflow data in its meta
        document), the projections and the event log.

        Args:
            session: the unit of work.
            head: the instance head from `checkout`.
            live: the live instance after the step.
            diff: from `diff`.
            values: other instance columns to set (status, active_stages...).
            now: the step's time.
            also: more writes of the same step (projections), sent with the task rows in
                one round trip where the driver can pipeline.

        Returns:
            The new revision.

        Raises:
            ConflictError: the instance changed since it was loaded. Inside
                `engine.fastsql.deferred_writes` the check is made when the batch's rows
                are sent, and a miss raises StaleDataError there.
        """
        conn = session.connection()
        new_revision = head.revision + 1
        params = {
            "b_id": head.id,
            "b_revision": head.revision,
            "revision": new_revision,
            "meta_json": self.codec.encode_meta(live.workflow, live.counters),
            "serializer_version": SERIALIZER_VERSION,
            "updated_at": now,
            **values,
        }

        if ending:
            diff = TaskDiff(deletes=list(live.rows), frontier=diff.frontier, candidates=diff.candidates)

        def write_step() -> None:
            if ending:
                self._purge_rows(session, head.id, live.rows)
            else:
                self._write_rows(session, head.id, diff, live.rows)
            if also is not None:
                also()

        if holding_writes(conn):
            # part of a batch (the timer worker's): everything is sent when the batch ends, the
            # revision check included -- it cannot fail, the batch holds the instance's lock
            _UPDATE_HEAD.executemany(conn, [params])
            write_step()
        else:
            # With a pipeline the whole write is one round trip; the revision check is read
            # when it ends, and a failed check raises before anything commits.
            with pipeline(conn):
                update = _UPDATE_HEAD.submit(conn, params)
                write_step()
            if update.rowcount != 1:
                raise ConflictError(f"instance {head.id} was changed by someone else; reload and try again")
        live.revision = head.revision = new_revision
        live.frontier = diff.frontier
        if ending:
            live.rows = {}  # the ended workflow is not kept warm: nothing can step it again
            return new_revision
        live.rows.update(diff.upserts)
        for task_id in diff.deletes:
            live.rows.pop(task_id, None)
        if self.verify:
            self._verify(live)
        after_commit(session, lambda: self.cache.put(live))
        return new_revision

    def _verify(self, live: LiveInstance) -> None:
        _meta, rows, _payloads = self.codec.encode_all(live.workflow)
        if rows != live.rows:
            stale = sorted(k for k in rows.keys() | live.rows.keys() if rows.get(k) != live.rows.get(k))
            raise AssertionError(f"incremental save of instance {live.instance_id} missed tasks {stale}")

    def _write_rows(
        self,
        session: Session,
        instance_id: int,
        diff: TaskDiff,
        before: Mapping[str, StoredTask] | None = None,
    ) -> None:
        """Write a step's task rows, and collect the payloads no row references any more.

        Args:
            before: the instance's rows before the step (None: a new instance).
        """
        conn = session.connection()
        insert_data, upsert_rows = _UPSERTS[conn.dialect.name]
        before = before or {}
        touched = set(diff.deletes).union(diff.upserts)
        # a payload that a row the step leaves alone references is stored, and stays: that
        # row's reference keeps anyone from collecting it
        held = {r.data_hash for tid, r in before.items() if tid not in touched}
        fresh = [{"hash": h, "body": b} for h, b in diff.payloads.items() if h not in held]
        if fresh:
            insert_data.executemany(conn, fresh)
        if diff.deletes:
            _DELETE_ROW.executemany(
                conn, [{"b_instance": instance_id, "b_task": tid} for tid in diff.deletes]
            )
        if diff.upserts:
            upsert_rows.executemany(
                conn,
                [
                    {
                        "instance_id": instance_id,
                        "id": tid,
                        "workflow_key": r.workflow_key,
                        "body": r.body,
                        "data_hash": r.data_hash,
                    }
                    for tid, r in diff.upserts.items()
                ],
            )
        # payloads the step stopped referencing (rows deleted or given other data)
        released = {before[tid].data_hash for tid in touched if tid in before}
        released -= held
        released.difference_update(r.data_hash for r in diff.upserts.values())
        if released:
            _COLLECT_DATA[conn.dialect.name].executemany(conn, [{"b_hash": h} for h in sorted(released)])

    def _purge_rows(self, session: Session, instance_id: int, rows: Mapping[str, StoredTask]) -> None:
        """Delete an ended instance's task rows and the payloads nobody else references."""
        conn = session.connection()
        _DELETE_ALL_ROWS.execute(conn, {"b_instance": instance_id})
        hashes = sorted({r.data_hash for r in rows.values()})
        if hashes:
            _COLLECT_DATA[conn.dialect.name].executemany(conn, [{"b_hash": h} for h in hashes])

    def purge(self, session: Session, instance_id: int) -> int:
        """Delete the runtime of an instance that has ended (existing stores, `baton compact`).

        Returns:
            How many task rows went.
        """
        conn = session.connection()
        rows = _read_tree(conn, instance_id).rows
        self._purge_rows(session, instance_id, rows)
        self.cache.take(instance_id, -1)
        return len(rows)


def new_instance_row(definition: DefinitionInfo, now: datetime) -> WorkflowInstance:
    """An instance row for a definition, not yet added to a session."""
    return WorkflowInstance(
        definition_id=definition.id,
        status="running",
        active_stages=[],
        revision=1,
        serializer_version=SERIALIZER_VERSION,
        meta_json="{}",
        started_at=now,
        updated_at=now,
    )


__all__ = [
    "InstanceHead",
    "InstanceStore",
    "LiveInstance",
    "WorkflowCache",
    "expect_checkouts",
    "new_instance_row",
]
