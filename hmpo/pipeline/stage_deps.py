"""The hmpo modules each pipeline stage runs: its notebook's imports, followed transitively.

A DVC stage must depend on exactly the library code it runs, so that editing a plot reruns
the figures stage and not 51 minutes of training. The import graph says which code that is:
every ``import``/``from ... import`` of an hmpo module, at module level or inside a function
(a lazy import still runs), and every string constant that names an hmpo module (a module
imported by name, ``importlib.import_module(name)``, or started as ``python -m hmpo.x`` in a
worker process). ``if TYPE_CHECKING:`` blocks never run and are left out. A package's
``__init__.py`` runs before any of its modules, so it counts too.

    python -m hmpo.pipeline.stage_deps            # each notebook's module files
    python -m hmpo.pipeline.stage_deps --write    # rewrite them into dvc.yaml

In ``dvc.yaml`` a stage's hmpo module files follow its notebook's line in ``deps:``;
``--write`` replaces those lines and nothing else. ``tests/test_stage_deps.py`` fails when
they differ from the import graph.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "hmpo"
#: The module every stage's command runs (``python -m hmpo.pipeline.notebook``).
RUNNER = "hmpo.pipeline.notebook"
_DOTTED = re.compile(r"hmpo(\.[A-Za-z_]\w*)+")  # a module name, not any "hmpo." text


def module_path(name: str, root: Path = ROOT) -> Path | None:
    """The file of an hmpo module or package (``hmpo.task`` -> hmpo/task/__init__.py)."""
    base = root.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def module_name(path: Path, root: Path = ROOT) -> str:
    """hmpo/task/data.py -> hmpo.task.data; hmpo/task/__init__.py -> hmpo.task."""
    parts = path.resolve().relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def hmpo_imports(path: Path, root: Path = ROOT) -> set[str]:
    """The hmpo modules one file imports or names (see the module docstring)."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "hmpo")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "hmpo":
            for a in node.names:  # from hmpo.task import synthetic: a module, not a name
                sub = f"{node.module}.{a.name}"
                out.add(sub if module_path(sub, root) else node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and _DOTTED.fullmatch(node.value) and module_path(node.value, root):
            out.add(node.value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return {m for m in out if module_path(m, root)}


def with_packages(modules: set[str]) -> set[str]:
    """`modules` and every package above them (hmpo.task.data -> hmpo.task, hmpo)."""
    out = set(modules)
    for m in modules:
        parts = m.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return out


def closure(start: set[str], root: Path = ROOT) -> set[str]:
    """`start` and every hmpo module it imports, transitively, packages included."""
    seen: set[str] = set()
    todo = list(with_packages(start))
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(with_packages(hmpo_imports(module_path(m, root), root)) - seen)
    return seen


def stage_modules(notebook: str | Path, root: Path = ROOT) -> list[str]:
    """The module files (repo-relative, sorted) that the stage running `notebook` executes:
    the runner's closure and the notebook's."""
    mods = closure({RUNNER} | hmpo_imports(Path(root) / notebook, root), root)
    return sorted(str(module_path(m, root).relative_to(root)) for m in mods)


_NOTEBOOK_DEP = re.compile(r"^(\s*)- (notebooks/0\w*\.py)\s*$")
_MODULE_DEP = re.compile(r"^\s*- hmpo/\S+\.py\s*(#.*)?$")


def rewrite_dvc_yaml(text: str, root: Path = ROOT) -> str:
    """`text` (a dvc.yaml) with each notebook dep followed by exactly its stage's modules."""
    out: list[str] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        out.append(lines[i])
        m = _NOTEBOOK_DEP.match(lines[i])
        i += 1
        if m:
            while i < len(lines) and _MODULE_DEP.match(lines[i]):
                i += 1  # the old module lines
            out.extend(f"{m.group(1)}- {path}\n" for path in stage_modules(m.group(2), root))
    return "".join(out)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--write"]:
        dvc_yaml = ROOT / "dvc.yaml"
        dvc_yaml.write_text(rewrite_dvc_yaml(dvc_yaml.read_text()))
        return
    notebooks = args or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("0*.py"))
    for nb in notebooks:
        print(f"# {nb}")
        for path in stage_modules(nb):
            print(f"- {path}")


if __name__ == "__main__":
    main()
