"""hmpo.notebook: the command every DVC stage runs (jupytext source -> papermill -> .ipynb).

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_notebook_runner.py -q
"""

from __future__ import annotations

import doctest
import json

import pytest

import hmpo.notebook
from hmpo.notebook import main, parse_value

pytestmark = pytest.mark.notebooks

SOURCE = '''# %% tags=["parameters"]
method = "hmpo"
steps = 1

# %%
from pathlib import Path
Path(OUT).write_text(f"{method} {steps * 2}")
print("ran", method)
'''


def test_doctests():
    assert doctest.testmod(hmpo.notebook).failed == 0


def test_values_are_typed_like_papermills_cli():
    assert parse_value("grpo") == "grpo"
    assert parse_value("12") == 12 and isinstance(parse_value("12"), int)
    assert parse_value("1e-4") == 1e-4
    assert parse_value("False") is False and parse_value("None") is None


def test_runs_the_source_with_parameters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.py").write_text(SOURCE.replace("OUT", repr(str(tmp_path / "out.txt"))))
    executed = tmp_path / "results" / "stage" / "nb.ipynb"  # its folder does not exist yet
    assert main(["nb.py", str(executed), "-p", "method", "kimi", "-p", "steps", "3"]) == 0
    assert (tmp_path / "out.txt").read_text() == "kimi 6"  # injected values, typed
    nb = json.loads(executed.read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and 'method = "kimi"' in "".join(injected[0]["source"])
    outputs = "".join("".join(o.get("text", [])) for c in nb["cells"] for o in c.get("outputs", []))
    assert "ran kimi" in outputs


def test_a_failing_cell_fails_the_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\n1 / 0\n')
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="ZeroDivisionError"):
        main(["bad.py", str(tmp_path / "bad.ipynb")])


def test_missing_source_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope.py"), str(tmp_path / "out.ipynb")]) == 2
    assert "nope.py: not found" in capsys.readouterr().err
