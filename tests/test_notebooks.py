"""The notebooks: each .ipynb is in sync with its jupytext source (the .py DVC depends on),
has a papermill `parameters` cell with the parameters the pipeline passes, and runs on the
`python3` kernel. Executing them end to end is tests/test_pipeline.py's job (slow).

After editing a notebook's .py: ``jupytext --sync notebooks/<name>.py`` regenerates its .ipynb.
"""

import ast
from pathlib import Path

import jupytext
import pytest

pytestmark = pytest.mark.notebooks

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: notebook -> the parameters the pipeline (dvc.yaml) or the tests pass to it
EXPECTED = {
    "01_data": {"params_path", "profile"},
    "02_base_model": {"params_path", "profile"},
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
