"""Fresh tables for a rebuild, compared with the live ones and swapped in on request.

The shadow tables are `replay_<service>.<table>`, made from the same SQLAlchemy tables the
migrations create (same columns, constraints and their names, indexes). The projection code
writes to them unchanged: its engine carries a `schema_translate_map` that sends every
unqualified table to the shadow schema, so a statement that strays to a table with no
shadow fails instead of touching live data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import (
    MetaData,
    Table,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, array
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

SAMPLES = 10


@dataclass(frozen=True)
class ReadModel:
    table: Table
    key: tuple[str, ...]
    # Columns that cannot match after a rebuild, each with the reason (shown in the report).
    ignored: Mapping[str, str] = field(default_factory=dict)
    # Row-level security: the role that sees every live row, and the one allowed to write them.
    read_role: str | None = None
    write_role: str | None = None

    @property
    def compared(self) -> list[str]:
        return [c.name for c in self.table.columns if c.name not in self.ignored]

    @property
    def copied(self) -> list[str]:
        """Swapped-in columns: all but identity ones, which the live table's own sequence
        numbers (copying them would leave that sequence behind the rows)."""
        return [c.name for c in self.table.columns if c.identity is None]

    @property
    def order(self) -> list[str]:
        """Insertion order on swap: the rebuild's own order where the table numbers its
        rows (a tie-breaker for readers), else the key."""
        return [c.name for c in self.table.columns if c.identity is not None] or list(self.key)


@dataclass(frozen=True)
class Diff:
    table: str
    live_rows: int
    rebuilt_rows: int
    live_checksum: str
    rebuilt_checksum: str
    only_live: int
    only_rebuilt: int
    changed: int
    samples: list[str]

    @property
    def identical(self) -> bool:
        return not (self.only_live or self.only_rebuilt or self.changed)


class Shadow:
    def __init__(self, engine: AsyncEngine, schema: str, models: Sequence[ReadModel]) -> None:
        self._live = engine
        self.schema = schema
        self._models = models
        self._q = engine.dialect.identifier_preparer.quote
        self.engine = engine.execution_options(schema_translate_map={None: schema})
        self._tables: dict[str, Table] = {}

    async def create(self) -> None:
        """A fresh, empty schema: a previous run's leftovers are dropped first."""
        schema = self._q(self.schema)
        async with self._live.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            await connection.execute(text(f"CREATE SCHEMA {schema}"))
        async with self.engine.begin() as connection:
            for model in self._models:
                await connection.run_sync(_create, model.table)
                # The roles that read (compare) and write (swap) the live rows read these.
                for role in sorted({r for r in (model.read_role, model.write_role) if r}):
                    grantee = self._q(role)
                    await connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {grantee}"))
                    await connection.execute(
                        text(f"GRANT SELECT ON {self._shadow(model)} TO {grantee}")
                    )

    async def drop(self) -> None:
        async with self._live.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {self._q(self.schema)} CASCADE"))

    async def compare(self, model: ReadModel) -> Diff:
        live, shadow = model.table.alias("l"), self._table(model).alias("r")
        first = model.key[0]
        on = and_(*(live.c[k] == shadow.c[k] for k in model.key))
        only_live, only_rebuilt = shadow.c[first].is_(None), live.c[first].is_(None)
        differs = or_(
            only_live,
            only_rebuilt,
            tuple_(*(live.c[c] for c in model.compared)).is_distinct_from(
                tuple_(*(shadow.c[c] for c in model.compared))
            ),
        )
        joined = live.outerjoin(shadow, on, full=True)
        counts = (
            select(
                func.count().filter(only_live).label("only_live"),
                func.count().filter(only_rebuilt).label("only_rebuilt"),
                func.count().filter(~only_live, ~only_rebuilt).label("changed"),
            )
            .select_from(joined)
            .where(differs)
        )
        keys = [cast(func.coalesce(live.c[k], shadow.c[k]), Text) for k in model.key]
        changed_columns = array(
            [
                case((live.c[c].is_distinct_from(shadow.c[c]), literal(c)), else_=null())
                for c in model.compared
            ]
        )
        samples = (
            select(*keys, only_live, only_rebuilt, func.array_remove(changed_columns, null()))
            .select_from(joined)
            .where(differs)
            .order_by(*keys)
            .limit(SAMPLES)
        )
        async with self._live.begin() as connection:
            if model.read_role:
                await self._become(connection, model.read_role)
            found = (await connection.execute(counts)).mappings().one()
            rows = (await connection.execute(samples)).all()
            live_sum = await self._checksum(connection, model.table, model)
            shadow_sum = await self._checksum(connection, self._table(model), model)
        return Diff(
            table=model.table.name,
            live_rows=live_sum[0],
            rebuilt_rows=shadow_sum[0],
            live_checksum=live_sum[1],
            rebuilt_checksum=shadow_sum[1],
            only_live=int(found["only_live"]),
            only_rebuilt=int(found["only_rebuilt"]),
            changed=int(found["changed"]),
            samples=[_describe(model.key, row) for row in rows],
        )

    async def swap(self, models: Sequence[ReadModel]) -> None:
        """Replace the live rows by the rebuilt ones, all tables in one transaction: readers
        see the old rows or the new ones, never an empty table (TRUNCATE locks them)."""
        async with self._live.begin() as connection:
            for model in models:
                await connection.execute(text(f"TRUNCATE {self._q(model.table.name)}"))
            for model in models:
                if model.write_role:
                    await self._become(connection, model.write_role)
                shadow = self._table(model)
                rebuilt = select(*(shadow.c[c] for c in model.copied)).order_by(
                    *(shadow.c[c] for c in model.order)
                )
                await connection.execute(insert(model.table).from_select(model.copied, rebuilt))
                if model.write_role:
                    await self._become(connection, None)

    def _shadow(self, model: ReadModel) -> str:
        return f"{self._q(self.schema)}.{self._q(model.table.name)}"

    def _table(self, model: ReadModel) -> Table:
        """The live table's definition, placed in the shadow schema (for queries that see
        both; the projection's own statements get there by the translate map instead)."""
        if model.table.name not in self._tables:
            self._tables[model.table.name] = model.table.to_metadata(MetaData(), schema=self.schema)
        return self._tables[model.table.name]

    @staticmethod
    async def _checksum(
        connection: AsyncConnection, table: Table, model: ReadModel
    ) -> tuple[int, str]:
        """Row count and an md5 over every compared column of every row, in key order."""
        rows = func.md5(cast(tuple_(*(table.c[c] for c in model.compared)), Text))
        # string_agg(row_md5, '' ORDER BY key): the ORDER BY rides on the last argument
        separator = aggregate_order_by(literal(""), *(table.c[k] for k in model.key))
        digest = func.md5(func.coalesce(func.string_agg(rows, separator), literal("")))
        row = (await connection.execute(select(func.count(), digest).select_from(table))).one()
        return int(row[0]), str(row[1])

    @staticmethod
    async def _become(connection: AsyncConnection, role: str | None) -> None:
        """SET LOCAL ROLE (until the transaction ends); None returns to the login role."""
        await connection.execute(
            text("SELECT set_config('role', :role, true)"), {"role": role or "none"}
        )


def _describe(key: tuple[str, ...], row: Sequence[object]) -> str:
    where = ", ".join(f"{name}={value}" for name, value in zip(key, row, strict=False))
    only_live, only_rebuilt, columns = row[len(key)], row[len(key) + 1], row[len(key) + 2]
    if only_live:
        return f"only in live: {where}"
    if only_rebuilt:
        return f"only in rebuilt: {where}"
    names = columns if isinstance(columns, list) else []
    return f"changed: {where} ({', '.join(str(c) for c in names)})"


def _create(connection: Connection, table: Table) -> None:
    table.create(connection, checkfirst=False)
