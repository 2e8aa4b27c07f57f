"""What the scanner extracts: member paths, their slots, and event names.

A Schema is built once per Decoder configuration and shared by its scanner.
Member paths form a tree whose root is the message object; slots are given in
depth-first order so that the slots below any node are one contiguous range
(the scanner clears that range when a duplicate key replaces a subtree).
Event names get small integer ids so that filtering and class lookup are
integer work inside the scanner.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from . import _header as K

Path = tuple[str, ...]
"""A member path: the keys from the message object down, ``("data", "x")``."""

# The value of a member path the message does not have (None is a value).
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING",
                                    "__bool__": lambda self: False,
                                    "__slots__": ()})()

# Members QMP itself defines, with the role the scanner gives them.
# "data" comes last so that its subtree, where extra paths go, never moves the
# slots of the others: those are the same in every Schema (the S_* below).
BUILTIN_PATHS: tuple[tuple[Path, int], ...] = (
    (("event",), K.ROLE_EVENT),
    (("timestamp",), K.ROLE_TIMESTAMP),
    (("timestamp", "seconds"), K.ROLE_SECONDS),
    (("timestamp", "microseconds"), K.ROLE_MICROS),
    (("id",), K.ROLE_NONE),
    (("return",), K.ROLE_RETURN),
    (("error",), K.ROLE_ERROR),
    (("error", "class"), K.ROLE_ERROR_CLASS),
    (("error", "desc"), K.ROLE_ERROR_DESC),
    (("QMP",), K.ROLE_QMP),
    (("execute",), K.ROLE_EXECUTE),
    (("exec-oob",), K.ROLE_EXEC_OOB),
    (("arguments",), K.ROLE_NONE),
    (("data",), K.ROLE_NONE),
)
(S_EVENT, S_TIMESTAMP, S_SECONDS, S_MICROS, S_ID, S_RETURN, S_ERROR,
 S_ERROR_CLASS, S_ERROR_DESC, S_QMP, S_EXECUTE, S_EXEC_OOB, S_ARGUMENTS,
 S_DATA) = range(14)


def member_path(path: Iterable[str]) -> str:
    """``("data", "server", "host")`` as ``$.data.server.host``."""
    return "$" + "".join(f".{key}" for key in path)


class Node:
    """One member path: its key under its parent, slot range and role."""

    __slots__ = ("id", "parent", "key", "path", "role", "children", "slot",
                 "slot_end")

    def __init__(self, id: int, parent: int, key: Optional[str],
                 path: Path) -> None:
        self.id = id
        self.parent = parent
        self.key = key
        self.path = path
        self.role = K.ROLE_NONE
        self.children: dict[str, Node] = {}
        self.slot = -1
        self.slot_end = -1


class Schema:
    """Paths to extract and event names to know, frozen into tables.

    ``paths``: slot index -> member path (tuple of keys).
    ``slot_of``: member path -> slot index.
    ``names``: name id -> event name; ``name_ids``: the reverse.
    ``keep``: name ids to deliver (None: every event); events whose name has
    no id are then dropped.
    """

    keep: Optional[frozenset[int]]
    keep_names: Optional[frozenset[str]]
    # set by the decoder and the C backend, which share the schema
    factories: Any
    _ctables: Any

    def __init__(self, paths: Iterable[Iterable[str]] = (),
                 names: Iterable[str] = (),
                 keep: Optional[Iterable[str]] = None) -> None:
        self.nodes = [Node(0, -1, None, ())]
        for path, role in BUILTIN_PATHS:
            self._add(path).role = role
        for keys in paths:
            path = tuple(keys)
            if len(path) < 2 or path[0] != "data":
                raise ValueError(f"extra paths go below 'data', not {path!r}")
            self._add(path)
        self.paths: list[Path] = []
        self._number(self.nodes[0])
        assert self.paths[S_DATA] == ("data",)
        self.n_slots = len(self.paths)
        self.slot_of = {p: i for i, p in enumerate(self.paths)}
        self.role_slot = [-1] * K.ROLES
        for node in self.nodes:
            if node.role:
                self.role_slot[node.role] = node.slot

        self.names: list[str] = []
        self.name_ids: dict[str, int] = {}
        for name in names:
            self._add_name(name)
        if keep is not None:
            keep = tuple(keep)
            for name in keep:
                self._add_name(name)
            self.keep = frozenset(self.name_ids[n] for n in keep)
            self.keep_names = frozenset(keep)
        else:
            self.keep = None
            self.keep_names = None

    def _add(self, path: Path) -> Node:
        node = self.nodes[0]
        for depth, key in enumerate(path):
            child = node.children.get(key)
            if child is None:
                child = Node(len(self.nodes), node.id, key, path[:depth + 1])
                self.nodes.append(child)
                node.children[key] = child
            node = child
        return node

    def _number(self, node: Node) -> None:
        if node.id != 0:
            node.slot = len(self.paths)
            self.paths.append(node.path)
        for child in node.children.values():
            self._number(child)
        node.slot_end = len(self.paths)

    def _add_name(self, name: object) -> None:
        if not isinstance(name, str):
            raise TypeError(f"event names must be str, not {name!r}")
        if name not in self.name_ids:
            self.name_ids[name] = len(self.names)
            self.names.append(name)

    def name_id(self, name: str) -> int:
        """The id the scanner gives an event name (-1: none).

        Names longer than the scanner's capture buffer never get an id, in
        either backend, so both filter them the same way.
        """
        if len(name.encode("utf-8", "surrogatepass")) > K.CAPTURE_MAX:
            return -1
        return self.name_ids.get(name, -1)
