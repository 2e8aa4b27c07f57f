"""The package's modules import only downward, and never in a cycle.

Layers, bottom to top: errors < scan < model < decoder < columns < arrow <
dask_reader (columnar reading) < protocol (sans-IO
client logic) < client and aio (side by side; neither imports the other) <
state < the package root < cli < ``python -m qmpfast``.  A layer may import
its own modules and any layer below it.  The root gathers the public names
of the layers below but leaves aio to load on first use (so ``import
qmpfast`` does not load asyncio), and cli.

Every ``import`` and ``from ... import`` statement counts, wherever it is
(inside functions, under ``if TYPE_CHECKING``); imports by name through
importlib do not (that is how the root loads aio and cli its commands).  A
layer listed here need not exist, but every module that exists must be
placed in a layer.
"""

import ast
import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
PACKAGE = os.path.join(REPO, "qmpfast")
ROOT = "qmpfast"

# bottom to top; a name stands for the module or the package and everything
# in it
LAYERS = [
    ["qmpfast.errors"],
    ["qmpfast.scan"],
    ["qmpfast.model"],
    ["qmpfast.decoder"],
    ["qmpfast.columns"],
    ["qmpfast.arrow"],
    ["qmpfast.dask_reader"],
    ["qmpfast.protocol"],
    ["qmpfast.client", "qmpfast.aio"],
    ["qmpfast.state", "qmpfast.mux"],
    [ROOT],
    ["qmpfast.cli"],
    ["qmpfast.__main__"],
]

# imports the layer order would allow but the design does not
FORBIDDEN = {
    ("qmpfast.client", "qmpfast.aio"),
    ("qmpfast.aio", "qmpfast.client"),
    (ROOT, "qmpfast.aio"),
    (ROOT, "qmpfast.cli"),
    (ROOT, "qmpfast.arrow"),
    (ROOT, "qmpfast.dask_reader"),
    (ROOT, "qmpfast.mux"),
}

# Forbidden imports the code still has, each with what removes it.  An
# entry that is no longer needed fails the test, so the list only shrinks.
PENDING: set = set()


def _module_name(path):
    rel = os.path.relpath(path, REPO)
    parts = rel[:rel.rindex(".")].split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources():
    """{module name: [paths]} of every module under qmpfast/ (a stub counts
    with its module)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(PACKAGE):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".py", ".pyi")):
                path = os.path.join(dirpath, name)
                found.setdefault(_module_name(path), []).append(path)
    return found


def _packages(modules):
    """Module names that are packages (with or without ``__init__``)."""
    return {m.rsplit(".", 1)[0] for m in modules if "." in m}


def _imports(module, path, known):
    """(line, imported module) for every import statement of ``path``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    is_package = os.path.basename(path).startswith("__init__.")
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                if not is_package:
                    parts.pop()
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((node.lineno, sub if sub in known else base))
    return [(line, name) for line, name in out
            if name == ROOT or name.startswith(ROOT + ".")]


def _layer(name):
    """Index in LAYERS and the layer's entry for ``name``, or None."""
    for index, entries in enumerate(LAYERS):
        for entry in entries:
            if name == entry or (entry != ROOT and
                                 name.startswith(entry + ".")):
                return index, entry
    return None


def _graph():
    """{module: [(path, line, imported module)]} of the whole package."""
    sources = _sources()
    known = set(sources) | _packages(sources)
    return {module: [(path, line, name)
                     for path in paths
                     for line, name in _imports(module, path, known)]
            for module, paths in sources.items()}


def _where(path, line):
    return f"{os.path.relpath(path, REPO)}:{line}"


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in _sources() if _layer(m) is None)
    assert not unplaced, (
        f"modules in no layer of tests/test_layers.py: {unplaced}; "
        "add each to LAYERS where it belongs")


def test_the_graph_sees_every_kind_of_import_statement():
    """The checks below are only as good as the graph: it has the imports
    inside functions, the relative ones and the ones of submodules."""
    edges = {(m, name) for m, imports in _graph().items()
             for _path, _line, name in imports}
    assert ("qmpfast.decoder", "qmpfast.model.validate") in edges  # in a def
    assert ("qmpfast.cli.parse", "qmpfast.state") in edges  # in a def
    assert ("qmpfast.scan.paths", "qmpfast.scan._header") in edges
    assert ("qmpfast.cli.watch", "qmpfast.aio") in edges  # from .. import
    assert ("qmpfast.cli", ROOT) in edges  # from .. import __version__
    assert ("qmpfast.__main__", "qmpfast.cli") in edges


def test_imports_point_down():
    wrong, seen = [], set()
    for module, imports in sorted(_graph().items()):
        here = _layer(module)
        for path, line, name in imports:
            there = _layer(name)
            if here is None or there is None:
                if there is None:
                    wrong.append(f"{_where(path, line)}: {module} imports "
                                 f"{name}, which is in no layer")
                continue
            pair = (here[1], there[1])
            if pair in FORBIDDEN or there[0] > here[0]:
                seen.add(pair)
                if pair not in PENDING:
                    wrong.append(f"{_where(path, line)}: {module} imports "
                                 f"{name} ({here[1]} may not import "
                                 f"{there[1]})")
    for pair in sorted(PENDING - seen):
        wrong.append(f"{pair[0]} no longer imports {pair[1]}: remove the "
                     "pair from PENDING in tests/test_layers.py")
    assert not wrong, "\n".join(wrong)


def _cycles(graph):
    """Every strongly connected set of more than one module, and every
    module importing itself (Tarjan)."""
    edges = {m: sorted({name for _p, _l, name in imports})
             for m, imports in graph.items()}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in edges.get(node, ()):
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_cycles():
    graph = {"a": [("", 0, "b")], "b": [("", 0, "c")], "c": [("", 0, "a")],
             "d": [("", 0, "a"), ("", 0, "d")], "e": [("", 0, "a")]}
    assert sorted(_cycles(graph)) == [["a", "b", "c"], ["d"]]


def test_no_import_cycles():
    graph = {m: [i for i in imports if not i[0].endswith(".pyi")]
             for m, imports in _graph().items()}
    cycles = _cycles(graph)
    details = []
    for group in cycles:
        members = set(group)
        details.append(" <-> ".join(group) + ": " + "; ".join(sorted({
            f"{_where(path, line)} imports {name}"
            for m in group for path, line, name in graph[m]
            if name in members})))
    assert not cycles, "import cycles:\n" + "\n".join(details)


def _run(code):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


LOADED = ("print(' '.join(sorted(m for m in sys.modules if m == 'asyncio' "
          "or m.startswith(('asyncio.', 'qmpfast.')))))")


def _under(loaded, names):
    """The modules of ``loaded`` that are one of ``names`` or in them."""
    return [m for m in loaded
            if any(m == n or m.startswith(n + ".") for n in names)]


def test_import_qmpfast_leaves_asyncio_aio_and_cli_unloaded():
    loaded = _run("import sys, qmpfast; " + LOADED)
    assert "qmpfast.decoder" in loaded and "qmpfast.client" in loaded
    assert _under(loaded, ["asyncio", "qmpfast.aio", "qmpfast.cli"]) == []


def test_the_decoder_loads_no_layer_above_it():
    """What ``import qmpfast.decoder`` loads of its own: the package root is
    put in place empty, since running it loads the whole public API."""
    loaded = _run(
        "import sys, types; "
        "root = types.ModuleType('qmpfast'); "
        f"root.__path__ = [{PACKAGE!r}]; "
        "sys.modules['qmpfast'] = root; "
        "import qmpfast.decoder; " + LOADED)
    assert "qmpfast.decoder" in loaded and "qmpfast.scan" in loaded
    assert _under(loaded, ["qmpfast.client", "qmpfast.aio",
                           "qmpfast.protocol", "qmpfast.state",
                           "qmpfast.cli", "asyncio"]) == []
