"""A training run's per-step log: where the trainer writes it and how it is read back.

:class:`hmpo.training.callbacks.LiveLogger` writes every logged metric with dvclive into
:func:`live_dir` of the run's results folder; :func:`load_train_log` reads the series the
notebooks and the report plot. Both sides name the folder here, so it is written down once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd


def live_dir(train_dir: str | Path) -> Path:
    """The dvclive folder of one run (``results/train/<m>/seed<s>/live``)."""
    return Path(train_dir) / "live"


#: dvclive series (under ``.../live/plots/metrics/``) -> training-curve column.
TRAIN_LOG_SERIES = {
    "hmpo/length_mean": "completion_length",
    "hmpo/accuracy": "accuracy",
    "hmpo/budget_tokens_mean": "budget_tokens",
    "time/step_s": "step_seconds",
}


def load_train_log(train_dir: str | Path, series: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per-step training log of one run as a DataFrame (``step`` + one column per series).

    ``train_dir`` is a run's folder (``results/train/<m>/seed<s>``). Reads the dvclive TSVs
    that :class:`hmpo.training.callbacks.LiveLogger` writes into :func:`live_dir`
    (``<train_dir>/live/plots/metrics/<name>.tsv``); a series the run did not log is left out.
    ``step_seconds`` is the wall time of the rollout step
    (:class:`hmpo.training.callbacks.StepTimer`'s ``time/step_s``; with ``logging_steps > 1``
    the mean over the logged steps).
    """
    series = TRAIN_LOG_SERIES if series is None else series
    root = live_dir(train_dir) / "plots" / "metrics"
    if not root.is_dir():
        raise FileNotFoundError(f"{root} does not exist; run the train stage for "
                                f"{Path(train_dir).name!r}")
    out: pd.DataFrame | None = None
    for name, column in series.items():
        path = root / f"{name}.tsv"
        if not path.is_file():
            continue
        leaf = name.rsplit("/", 1)[-1]
        df = pd.read_csv(path, sep="\t")
        df = df[["step", leaf]].rename(columns={leaf: column})
        out = df if out is None else out.merge(df, on="step", how="outer")
    if out is None:
        raise FileNotFoundError(f"{root} holds none of {list(series)}")
    return out.sort_values("step").reset_index(drop=True)
