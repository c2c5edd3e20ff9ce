"""The package's rooms stand on floors: each imports only from the floors below it, never in a loop.

Imports are read with `ast` from the package's files (every import, also those
inside functions and under TYPE_CHECKING), so a test fails on the line that
adds a cycle or reaches up, before anyone has to untangle it.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mailer"

# From the ground up. A room may import from its own room and from lower floors;
# rooms that share a floor stand side by side and import nothing from each other.
FLOORS: list[tuple[str, ...]] = [
    ("core",),  # errors, files, redaction, text, durations, retries, tokens
    ("sessions",),  # the domain's sessions, which the ledger hands out
    ("model",),  # the domain's values
    ("rules",),  # pure decisions
    ("settings",),  # mailer.toml and jobs/*.toml, typed
    ("sheet", "mail"),  # the workbook and its tabs; templates -> messages
    ("ledger",),  # what was decided and sent
    ("sending",),  # delivery, pacing, transports
    ("site",),  # one site's pieces, wired from its settings
    ("jobs", "web"),  # what runs on a schedule; what `mailer serve` answers
    ("tools",),  # check, preview, gallery, sample
    ("cli",),  # the `mailer` command
    ("__main__",),  # `python -m mailer`
]
FLOOR = {room: number for number, rooms in enumerate(FLOORS) for room in rooms}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    """The room a module stands in: its folder under mailer/, or its own name if it is a file."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@functools.cache
def imports(module: str) -> tuple[tuple[str, int], ...]:
    """The package's modules that `module` imports, with the line that imports each."""
    return tuple(_imports(module))


def _imports(module: str) -> Iterator[tuple[str, int]]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from mailer.rules import roster` imports the module mailer.rules.roster
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name in MODULES and name != "mailer":
                yield name, node.lineno


def graph() -> dict[str, list[str]]:
    """Each module and the package's modules it imports (read when a test asks, not on import)."""
    return {module: sorted({name for name, _ in imports(module)}) for module in MODULES}


def test_every_room_stands_on_a_floor() -> None:
    rooms = {room(module) for module in MODULES} - {"__init__"}
    assert rooms <= set(FLOOR), f"rooms with no floor in FLOORS: {sorted(rooms - set(FLOOR))}"


def test_nothing_imports_from_a_floor_above_or_beside() -> None:
    wrong = []
    for module in MODULES:
        if room(module) == "__init__":
            continue
        for name, line in imports(module):
            here, there = room(module), room(name)
            if there != here and FLOOR[there] >= FLOOR[here]:
                side = "beside" if FLOOR[there] == FLOOR[here] else "above"
                wrong.append(
                    f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {name} ({side})"
                )
    assert not wrong, "imports that reach up or sideways:\n" + "\n".join(wrong)


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module, or one that imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_sees_a_loop() -> None:
    loop = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert cycles(loop) == [["a", "b", "c"]]
    assert cycles({"a": ["b"], "b": []}) == []


@pytest.mark.parametrize(
    "folder", sorted(p.parent.name for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE)
)
def test_each_folder_says_what_it_holds(folder: str) -> None:
    init = next(p for p in PACKAGE.rglob("__init__.py") if p.parent.name == folder)
    assert ast.get_docstring(ast.parse(init.read_text())), f"{init} has no docstring"
