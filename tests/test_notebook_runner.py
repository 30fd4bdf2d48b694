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


# ------------------------------------------------------------------ a quiet, widget-bar notebook
NOISY = '''# %% tags=["parameters"]
n = 3

# %%
import os
import warnings

from tqdm.auto import tqdm
from transformers.utils import logging

for _ in tqdm(range(n), desc="sampling"):  # ours: a widget bar in JupyterLab
    pass
for _ in logging.tqdm(range(n), desc="Loading weights"):  # transformers' weight-loading bar
    pass
logging.get_logger("transformers.trainer_utils").warning(
    "mtime may not be reliable on this filesystem, falling back to numerical ordering")
# the deprecation TRL 1.16's GRPOTrainer triggers in transformers 5.24 (same text)
warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6. "
              "Use `is_activation_checkpointing` instead.", FutureWarning, stacklevel=1)
print("verbosity", os.environ.get("TRANSFORMERS_VERBOSITY"))
'''


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] for o in c.get("outputs", [])]


def test_ipywidgets_is_installed_so_tqdm_auto_draws_widgets():
    import ipywidgets
    import tqdm.notebook

    # the pinned version (tests/test_pins.py checks the pin itself)
    assert ipywidgets.__version__ == "8.1.9"
    # tqdm.notebook sets IProgress to None when ipywidgets is missing, and then tqdm.auto
    # warns "IProgress not found" and falls back to text bars
    assert tqdm.notebook.IProgress is ipywidgets.FloatProgress


def test_executed_notebook_has_widget_bars_and_no_stderr_noise(tmp_path, monkeypatch):
    for var in hmpo.notebook.KERNEL_ENV:  # what a stage gets, whatever this shell exported
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "noisy.py").write_text(NOISY)
    executed = tmp_path / "noisy.ipynb"
    assert main(["noisy.py", str(executed)]) == 0
    nb = json.loads(executed.read_text())
    outs = _outputs(nb)
    stderr = "".join("".join(o["text"]) for o in outs if o.get("name") == "stderr")
    assert stderr == "", f"stderr in the executed notebook:\n{stderr}"
    widgets = [o for o in outs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 1  # our bar; transformers' "Loading weights" bar is disabled
    # its text fallback (a viewer without widgets, JupyterLab before the kernel connects) is
    # the final state, not the "0%" tqdm wrote when the bar was created
    assert "".join(widgets[0]["data"]["text/plain"]).startswith("sampling: 100%|██████████| 3/3 ")
    state = json.dumps(nb["metadata"]["widgets"])
    assert "sampling" in state and "Loading" not in state
    stdout = "".join("".join(o.get("text", [])) for o in outs if o.get("name") == "stdout")
    assert "verbosity error" in stdout


def test_kernel_environment_is_scoped_and_yields_to_the_caller(monkeypatch):
    import os

    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")  # a caller debugging a stage
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    with hmpo.notebook.kernel_environment() as added:
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        assert "TRANSFORMERS_VERBOSITY" not in added
    assert "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ  # restored


def test_warning_filters_are_valid_pythonwarnings_entries():
    import subprocess
    import sys

    env = {"PYTHONWARNINGS": hmpo.notebook.KERNEL_ENV["PYTHONWARNINGS"], "PATH": ""}
    p = subprocess.run([sys.executable, "-c", "import warnings; print(len(warnings.filters))"],
                       env=env, capture_output=True, text=True, check=True)
    assert "Invalid -W option" not in p.stderr, p.stderr  # Python ignores a malformed one
    assert all("," not in f for f in hmpo.notebook.KERNEL_WARNING_FILTERS)
