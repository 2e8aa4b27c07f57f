"""The members the state machine tracks: the twin of the C key table.

The C scanner hashes every key against the schema's member paths.  The twin
needs less: values are decoded from a message's bytes when asked for, so
the state machine follows only the members QMP gives a role (``event``,
``timestamp.seconds``, ``error.class``, ...) and the objects leading to
them, in small dicts keyed by the key's UTF-8 bytes.
"""

from __future__ import annotations

from typing import Any

from .. import _header as K

EMPTY: dict[bytes, int] = {}
"""The children of a node that has none tracked."""


class KeyTable:
    """Tracked nodes of a schema.

    ``children``: node -> {key bytes: child node}, for tracked nodes only.
    ``roles``: node -> ROLE_*.  ``subtree``: node -> every tracked node
    below it (cleared when a duplicate key gives that node a new object).
    ``role_node``: ROLE_* -> its node; ``n_types`` nodes in all, the last
    one standing for a role no node has (never set, so always absent).
    """

    __slots__ = ("children", "roles", "subtree", "role_node", "n_types")

    def __init__(self, schema: Any) -> None:
        nodes = schema.nodes
        wanted: set[int] = set()
        for node in nodes:
            if node.role:
                while node.id > 0:
                    wanted.add(node.id)
                    node = nodes[node.parent]
        children: dict[int, dict[bytes, int]] = {}
        for nid in sorted(wanted):
            node = nodes[nid]
            children.setdefault(node.parent, {})[
                node.key.encode("utf-8", "surrogatepass")] = nid
        self.children = children
        self.roles: list[int] = [n.role for n in nodes]
        self.subtree: dict[int, list[int]] = {}
        for nid in wanted:
            below: list[int] = []
            stack = [nid]
            while stack:
                for child in children.get(stack.pop(), EMPTY).values():
                    below.append(child)
                    stack.append(child)
            if below:
                self.subtree[nid] = below
        self.n_types = len(nodes) + 1
        absent = len(nodes)
        self.role_node: list[int] = [absent] * K.ROLES
        for node in nodes:
            if node.role:
                self.role_node[node.role] = node.id
