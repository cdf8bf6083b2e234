"""Layout rules of malnu_tui, checked before the tests: no import cycle between its modules, no
module over 600 lines. Stdlib only; run as ``python scripts/check_layout.py``; exit 1 names every
cycle (as a path ``a -> b -> a``, with the line of each import) and every long module.

Which imports count:
- every ``import`` / ``from … import`` statement of ``malnu_tui``, at any depth: module level,
  inside functions and methods (a deferred import is still a dependency that runs, and hiding a
  cycle inside a function is the usual way one is papered over);
- except those under ``if TYPE_CHECKING:`` (they never run; annotations are strings here thanks to
  ``from __future__ import annotations``).
An edge goes to the module named: ``from pkg import name`` is an edge to ``pkg.name`` when that
is a module, else to ``pkg``. Importing a module does run its packages' ``__init__`` too, but
counting that would make every package that re-exports its submodules a "cycle"; a package
``__init__`` that imports a sibling is an edge of its own and is checked like any other.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "malnu_tui"
MAX_LINES = 600

# Modules still over the limit, each being split by the helper named (issue 9): remove an entry
# as soon as its split lands. The check fails when a listed module is already short enough, so
# the list cannot go stale.
ALLOW_LONG: dict[str, str] = {}


@dataclass(frozen=True)
class Edge:
    target: str
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def edges_of(path: Path, module: str, known: set[str]) -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: list[Edge] = []
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = _resolve(module, path.name == "__init__.py", node)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for target in targets:
            # ``import a.b.c`` where only ``a.b`` is ours: the nearest known module.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                out.append(Edge(target, node.lineno))
    return out


def find_cycles(graph: dict[str, dict[str, int]]) -> list[tuple[list[str], list[str]]]:
    """Each strongly connected component of more than one module (Tarjan's algorithm,
    iterative), with one shortest cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    components.append(sorted(comp))
    return [(_shortest_cycle(graph, comp), comp) for comp in sorted(components)]


def _shortest_cycle(graph: dict[str, dict[str, int]], comp: list[str]) -> list[str]:
    members = set(comp)
    best: list[str] = []
    for start in comp:
        prev: dict[str, str] = {}
        queue = deque([start])
        seen = {start}
        found = False
        while queue and not found:
            node = queue.popleft()
            for nxt in sorted(graph[node]):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    cycle = [*reversed(path), start]
                    if not best or len(cycle) < len(best):
                        best = cycle
                    found = True
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    prev[nxt] = node
                    queue.append(nxt)
    return best


def main(root: Path = ROOT, allow_long: dict[str, str] | None = None) -> int:
    allow = ALLOW_LONG if allow_long is None else allow_long
    files = {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}
    known = set(files)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        graph[module] = {}
        for edge in edges_of(path, module, known):
            graph[module].setdefault(edge.target, edge.line)
    problems: list[str] = []
    for cycle, component in find_cycles(graph):
        hops = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(cycle))
        more = ""
        if len(component) > len(cycle) - 1:
            more = f"\n  (all {len(component)} modules of this cycle: {', '.join(component)})"
        problems.append(f"import cycle: {hops} -> {cycle[-1]}{more}")
    for path in files.values():
        n = len(path.read_text(encoding="utf-8").splitlines())
        rel = path.relative_to(root).as_posix()
        if n > MAX_LINES and rel not in allow:
            problems.append(f"{rel}: {n} lines (at most {MAX_LINES}: split it along a real seam)")
        elif rel in allow and n <= MAX_LINES:
            problems.append(f"{rel} is {n} lines now: remove it from ALLOW_LONG in {__file__}")
    for rel, why in sorted(allow.items()):
        if (root / rel).exists():
            print(f"check_layout: allowed for now: {rel} ({why})", file=sys.stderr)
        else:
            problems.append(f"{rel} is gone: remove it from ALLOW_LONG in {__file__}")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
