"""Executing one notebook with papermill, at a profile, into the report folder."""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

from tickets.report.layout import KERNEL, ROOT
from tickets.report.params import run_params
from tickets.report.settings import PROFILE_EXECUTOR
from tickets.store import Store

# oneDNN's AVX2 kernel for the weight gradient of a 1x1 convolution (ResNet-18's shortcuts)
# hung on very narrow nets on a 2-core AVX2 machine (torch 2.14.1, float32): a ResNet-18 at width
# 1/16 never finished its first step and the process ended in a heap corruption; capped at
# SSE4.1, the same search took 5 s. A dry run's nets are that narrow (widths divided by 8, and
# the RST-size dense nets narrower still), so its kernels run with oneDNN capped there. The
# cap costs a dry run about 1.5x in time; the profiles' own nets never meet it.
DRY_RUN_ENV = {"ONEDNN_MAX_CPU_ISA": "SSE41"}


def profile_environment(profile: str, tiny: bool = False) -> dict[str, str]:
    """The environment variables a profile's report sets where the caller has not: the
    executor of PROFILE_EXECUTOR, except for the tiny dry runs, which train in a moment and
    get DRY_RUN_ENV instead."""
    from tickets import executor

    if tiny:
        return {k: v for k, v in DRY_RUN_ENV.items() if not os.environ.get(k)}
    if profile not in PROFILE_EXECUTOR or os.environ.get(executor.ENV):
        return {}
    return {executor.ENV: PROFILE_EXECUTOR[profile]}


def execute(nb: Path, profile: str, out_dir: Path, extra: dict | None = None,
            tiny: bool = False, keep: list[str] | tuple = ()) -> tuple[Path, float]:
    """Run notebook `nb` at `profile` (with --param overrides `extra`, shrunk when `tiny`) and
    write the executed copy to `out_dir`; returns its path and the wall time in seconds."""
    import papermill as pm

    out = out_dir / nb.name
    params = run_params(nb, profile, out_dir, extra, tiny, keep)
    t0 = time.perf_counter()
    # the kernel inherits these; patch.dict gives this process its own environment back (a
    # dry run's oneDNN cap would otherwise reach the workers that a later caller spawns)
    kernel_env = {"TICKETS_PROGRESS": "0",  # no bars in the report
                  Store.NOTEBOOK_ENV_VAR: nb.stem,  # the store's ledger names who asked
                  **profile_environment(profile, tiny)}
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        with mock.patch.dict(os.environ, kernel_env):
            pm.execute_notebook(os.path.relpath(nb.resolve(), ROOT),
                                os.path.relpath(out.resolve(), ROOT), parameters=params,
                                kernel_name=KERNEL, cwd=str(nb.parent), progress_bar=True,
                                log_output=False)
    finally:
        os.chdir(here)
    return out, time.perf_counter() - t0
