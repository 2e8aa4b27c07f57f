"""A fleet's QMP logs as one Dask DataFrame (the ``dask`` extra).

Each file is one partition, decoded by qmpfast where the task runs (a
worker of a ``distributed`` cluster, or a local thread), into the columns
of ``qmpfast.arrow`` with ``source`` the file's path.  Nothing but the
paths travels to the workers; the files must be readable there (a shared
file system, or paths the workers see).  Columns are pandas' Arrow-backed
dtypes (nullable strings, booleans and timestamps, no object columns), the
same in every partition.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterable, Optional

from .arrow import record_batch, schema
from .columns import iter_columns
from .errors import DecodeError

__all__ = ["read_qmp", "read_partition"]


def _frame(table: Any) -> Any:
    """An Arrow table as a pandas DataFrame of Arrow dtypes (dictionary
    columns decoded, so that partitions agree on their dtypes)."""
    pd = importlib.import_module("pandas")
    pa = importlib.import_module("pyarrow")
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, pa.field(field.name, pa.string(),
                                                 field.nullable),
                                     table.column(i).cast(pa.string()))
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def read_partition(path: str, events: Optional[tuple[str, ...]] = None,
                   on_error: str = "raise", typed: bool = True) -> Any:
    """One file's messages as a pandas DataFrame: a partition of
    ``read_qmp``, and the single-process reader."""
    pa = importlib.import_module("pyarrow")
    batches = []
    try:
        with open(path, "rb") as f:
            for cols in iter_columns(f, events=events, on_error=on_error,
                                     source=path):
                batches.append(record_batch(cols, source=path, typed=typed))
    except DecodeError as exc:
        # the error travels back from a worker pickled, which keeps its
        # text but not ``source``: put the file's name in the text
        exc.msg, exc.source = str(exc), None
        raise
    return _frame(pa.Table.from_batches(
        batches, schema=schema(source=True, typed=typed)))


def read_qmp(paths: Iterable[str], events: Optional[Iterable[str]] = None,
             on_error: str = "raise", typed: bool = True) -> Any:
    """A ``dask.dataframe.DataFrame`` with one partition per file of
    ``paths``, each decoded by ``read_partition`` where it is computed."""
    dd = importlib.import_module("dask.dataframe")
    paths = list(paths)
    if not paths:
        raise ValueError("read_qmp() needs at least one path")
    keep = None if events is None else tuple(sorted(set(events)))
    meta = _frame(schema(source=True, typed=typed).empty_table())
    return dd.from_map(
        read_partition, paths, events=keep,
        on_error=on_error, typed=typed, meta=meta)
