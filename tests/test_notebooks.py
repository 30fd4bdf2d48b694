"""The notebooks: each .ipynb is in sync with its jupytext source (the .py DVC depends on),
has a papermill `parameters` cell with the parameters the pipeline passes, and runs on the
`python3` kernel. Executing them end to end is tests/test_pipeline.py's job (slow).

After editing a notebook's .py: ``jupytext --sync notebooks/<name>.py`` regenerates its .ipynb.
"""

import ast
import re
from pathlib import Path

import jupytext
import pytest

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: notebook -> the parameters the pipeline (dvc.yaml) or the tests pass to it
EXPECTED = {
    "01_data": {"params_path", "profile"},
    "02a_sft_model": {"params_path", "profile"},
    "02b_base_model": {"params_path", "profile"},
    "02c_predictions": {"params_path", "profile"},
    "03_train": {"params_path", "profile", "method"},
    "04_evaluate": {"params_path", "profile", "model"},
    "05_figures": {"params_path", "profile"},
}


def _cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    """What must agree between the two forms: type, source and tags of every cell."""
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def _parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", ())]
    assert len(cells) == 1, "exactly one cell tagged `parameters` (papermill injects after it)"
    return cells[0]


def test_every_notebook_has_both_forms_and_nothing_else():
    stems = {p.stem for p in NOTEBOOKS.glob("*.py")}
    assert stems == set(EXPECTED)
    assert {p.stem for p in NOTEBOOKS.glob("*.ipynb")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ipynb_in_sync_with_py(name):
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    ipynb = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    assert _cells(py) == _cells(ipynb), (
        f"notebooks/{name}.ipynb is out of sync: run `jupytext --sync notebooks/{name}.py`")
    assert not any(c.get("outputs") for c in ipynb.cells), "commit notebooks without outputs"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameters_cell(name):
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    cell = _parameters_cell(nb)
    assigned = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                for t in node.targets}
    assert assigned == EXPECTED[name]
    values = {}
    exec(compile(cell.source, name, "exec"), {}, values)  # defaults run in JupyterLab as is
    assert values["params_path"] == "params.yaml" and values["profile"] is None
    # the parameters cell is the first code cell: nothing runs before the injected values
    assert next(c for c in nb.cells if c.cell_type == "code") is cell


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_kernel_is_python3(name):
    nb = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_code_compiles_and_calls_the_library(name):
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    tree = ast.parse("\n".join(ln for ln in code.splitlines() if not ln.startswith("%")))
    # thin: no function or class is defined in a notebook, the computation lives in hmpo/
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert "from hmpo." in code


def _readme_calls() -> dict[str, tuple[list[str], list[str]]]:
    """notebook -> (the hmpo names of its `calls` cell in notebooks/README.md outside
    parentheses, all of them): the first are what it imports, the others what those call."""
    out = {}
    for line in (NOTEBOOKS / "README.md").read_text().splitlines():
        row = re.match(r"\| `(\d\d[a-z]?_\w+)` \|", line)
        if row:
            calls = line.strip().strip("|").rsplit("|", 1)[1]
            names = re.compile(r"`(hmpo(?:\.\w+)+)`")
            out[row[1]] = (names.findall(re.sub(r"\([^)]*\)", "", calls)), names.findall(calls))
    return out


def _in_library(dotted: str) -> bool:
    """Whether `dotted` is an hmpo module or a top-level def/class of one (read, not imported:
    no torch, and no import of a module another change may be editing)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:i])
        path = base.with_suffix(".py")
        if not path.is_file():
            path = base / "__init__.py"
        if path.is_file():
            if i == len(parts):
                return True
            defs = {n.name for n in ast.parse(path.read_text()).body
                    if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            return i == len(parts) - 1 and parts[-1] in defs
    return False


def _imported(name: str) -> set[str]:
    """The hmpo names notebook `name` imports: ``from m import f`` gives m.f, and m itself."""
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    tree = ast.parse("\n".join(ln for ln in code.splitlines() if not ln.startswith("%")))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hmpo"):
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_readme_table_names_what_each_notebook_calls():
    """notebooks/README.md's table stays true: every name it gives exists in hmpo/, and the
    notebook imports the ones it calls directly."""
    table = _readme_calls()
    assert set(table) == set(EXPECTED)
    for name, (direct, named) in table.items():
        assert direct, f"notebooks/README.md: no call named for {name}"
        for dotted in named:
            assert _in_library(dotted), f"notebooks/README.md ({name}): {dotted} does not exist"
        imported = _imported(name)
        for dotted in direct:
            assert dotted in imported, f"notebooks/README.md: {name} does not import {dotted}"
