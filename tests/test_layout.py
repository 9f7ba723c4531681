"""The package's architecture, checked from the source: imports run one way, and C lives in .c files.

The graph counts every import of a project module, at the top of a file or inside a
function (an import inside a function still makes a circle, it only hides it).
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("hw7", "qmdbook", "hw7bench")
# hw7's layers, lowest first: a module may import its own layer and those below it, never one above.
# Problem 1 (rosenbrock) stands apart from the MNIST chain; the report reads it.
LAYERS = {
    "hw7": 0, "hw7.config": 0, "hw7.data": 0, "hw7.rosenbrock": 0,
    "hw7.engine": 1,
    "hw7.results": 2,
    "hw7.report": 3,
    "hw7.__main__": 4,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports anywhere in it (``from a import b`` counts ``a.b`` if
    that is a module, else ``a``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                    for a in node.names}
    return {m for m in out if m.split(".")[0] in PACKAGES}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``g`` (as a list of modules that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(g):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def layer(module: str) -> int:
    return max((v, len(k)) for k, v in LAYERS.items() if module == k or module.startswith(k + "."))[0]


def test_cycle_finder_finds_a_circle_and_passes_a_tree():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_in_src():
    found = cycle(graph())
    assert found is None, " -> ".join(found)


def test_hw7_imports_run_downward_only():
    upward = [f"{a} imports {b}" for a, deps in graph().items() if a.startswith("hw7.")
              for b in deps if b.startswith("hw7") and layer(b) > layer(a)]
    assert upward == []


def test_problem1_needs_nothing_of_the_networks():
    g = graph()
    reached, todo = set(), [m for m in g if m.startswith("hw7.rosenbrock")]
    while todo:
        m = todo.pop()
        for d in g.get(m, ()):
            if d not in reached:
                reached.add(d)
                todo.append(d)
    assert not {m for m in reached if m.startswith(("hw7.engine", "hw7.results", "hw7.report", "hw7.data"))}


def test_renderer_and_benchmarks_stand_apart():
    g = graph()
    assert not any(d.startswith("hw7") for m, deps in g.items() if m.startswith("qmdbook") for d in deps)
    assert not any(d.startswith(("hw7bench", "qmdbook")) for m, deps in g.items() if m.startswith("hw7.")
                   for d in deps if not m.startswith("hw7.__main__"))


@pytest.mark.parametrize("package", sorted(p.parent for p in (SRC / "hw7").rglob("__init__.py")),
                         ids=lambda p: module_name(p / "__init__.py"))
def test_every_package_says_what_it_holds(package):
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.split()) >= 15, f"{package}: the __init__ docstring says what it holds and may import"


def test_no_python_module_holds_c_source():
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "#include <" not in text, f"{path}: C source belongs in a .c file"
    assert sorted(p.name for p in SRC.rglob("*.c")) == ["epoch_kernel.c", "fused.c"]
