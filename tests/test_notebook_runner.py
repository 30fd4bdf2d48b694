"""hmpo.pipeline.notebook: every DVC stage's command (jupytext source -> papermill -> .ipynb).

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_notebook_runner.py -q
"""

from __future__ import annotations

import doctest
import json

import pytest

import hmpo.pipeline.notebook
from hmpo.pipeline.notebook import main, parse_value

pytestmark = pytest.mark.notebooks

SOURCE = '''# %% tags=["parameters"]
method = "hmpo"
steps = 1

# %%
from pathlib import Path
Path(OUT).write_text(f"{method} {steps * 2}")
print("ran", method)
'''


def _write_source(folder):
    """SOURCE as folder/nb.py, writing its result to folder/out.txt."""
    (folder / "nb.py").write_text(SOURCE.replace("OUT", repr(str(folder / "out.txt"))))


def test_doctests():
    assert doctest.testmod(hmpo.pipeline.notebook).failed == 0


def test_values_are_typed_like_papermills_cli():
    assert parse_value("grpo") == "grpo"
    assert parse_value("12") == 12 and isinstance(parse_value("12"), int)
    assert parse_value("1e-4") == 1e-4
    assert parse_value("False") is False and parse_value("None") is None


def test_runs_the_source_with_parameters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_source(tmp_path)
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
    for var in hmpo.pipeline.notebook.KERNEL_ENV:  # what a stage gets, whatever this shell exported
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
    with hmpo.pipeline.notebook.kernel_environment() as added:
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        assert "TRANSFORMERS_VERBOSITY" not in added
    assert "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ  # restored


def test_warning_filters_are_valid_pythonwarnings_entries():
    import subprocess
    import sys

    env = {"PYTHONWARNINGS": hmpo.pipeline.notebook.KERNEL_ENV["PYTHONWARNINGS"], "PATH": ""}
    p = subprocess.run([sys.executable, "-c", "import warnings; print(len(warnings.filters))"],
                       env=env, capture_output=True, text=True, check=True)
    assert "Invalid -W option" not in p.stderr, p.stderr  # Python ignores a malformed one
    assert all("," not in f for f in hmpo.pipeline.notebook.KERNEL_WARNING_FILTERS)


# ---------------------------------------------- start-up: the kernel first, fewer imports
def test_imports_without_blocks_only_inside_the_block_and_only_what_is_not_imported():
    import importlib
    import sys

    sys.modules.pop("colorsys", None)  # so the block sees it not yet imported
    with hmpo.pipeline.notebook.imports_without("colorsys", "json"):
        with pytest.raises(ImportError):
            importlib.import_module("colorsys")
        assert importlib.import_module("json") is json  # already imported: left alone
    assert importlib.import_module("colorsys").rgb_to_hsv(1, 0, 0) == (0.0, 1.0, 1)
    assert sys.modules["json"] is json


PID_SOURCE = '''# %% tags=["parameters"]
fail = False

# %%
import os
from pathlib import Path
Path("kernel.pid").write_text(str(os.getpid()))

# %%
assert not fail, "asked to fail"
'''


def _gone(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("fail", [False, True])
def test_the_kernel_is_killed_when_the_run_ends_or_fails(tmp_path, monkeypatch, fail):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pid.py").write_text(PID_SOURCE)
    argv = ["pid.py", str(tmp_path / "pid.ipynb"), "-p", "fail", str(fail)]
    if fail:
        from papermill.exceptions import PapermillExecutionError

        with pytest.raises(PapermillExecutionError, match="asked to fail"):
            main(argv)
    else:
        assert main(argv) == 0
    pid = int((tmp_path / "kernel.pid").read_text())
    assert pid > 0 and _gone(pid)  # killed and reaped, not left running


def test_the_kernel_is_launched_before_the_heavy_imports_and_the_grammar_is_skipped(tmp_path):
    """In a fresh interpreter, as a stage runs it: the kernel starts before jupytext/papermill
    are imported, nbformat's jsonschema loads without rfc3987_syntax, and the run works."""
    import subprocess
    import sys

    _write_source(tmp_path)
    script = '''
import sys
import hmpo.pipeline.notebook as n
seen = []
start = n.start_kernel
def spy(kernel):
    seen.append(sorted(m for m in ("jupytext", "papermill", "nbformat") if m in sys.modules))
    return start(kernel)
n.start_kernel = spy
assert n.main(["nb.py", "nb.ipynb", "-p", "method", "kimi"]) == 0
print(seen, "jsonschema" in sys.modules, "rfc3987_syntax" in sys.modules)
import rfc3987_syntax  # importable again after the runner's imports
'''
    p = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[-2] == "[[]] True False"
    assert (tmp_path / "out.txt").read_text() == "kimi 2"


def test_the_runner_closes_its_kernel_client(tmp_path, monkeypatch):
    """nbclient closes the client of a kernel it started, not of one handed to it: the runner
    does, so no zmq channel of the finished run stays open ("Unclosed socket" at exit)."""
    monkeypatch.chdir(tmp_path)
    _write_source(tmp_path)
    managers = []
    start = hmpo.pipeline.notebook.start_kernel
    monkeypatch.setattr(hmpo.pipeline.notebook, "start_kernel",
                        lambda kernel: managers.append(start(kernel)) or managers[-1])
    assert main(["nb.py", "nb.ipynb"]) == 0
    (km,) = managers
    assert isinstance(km, hmpo.pipeline.notebook.RunnerKernelManager)  # a module-level class
    assert len(km.clients) == 1  # the one papermill's nbclient made and ran the cells with
    assert not km.clients[0].channels_running
