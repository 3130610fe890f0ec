"""`make bench`: speed figures, printed and written to JSON. Figures, not assertions.

Each ratio is measured side by side in one process, on the same inputs, alternating the two
sides so that machine noise hits both alike; the median over repeats is reported.

`python -m tickets.bench --help` lists the flags (tickets.bench.cli).

One module per tool: timing (the timing helpers), steps (masked against dense, our PGD
against a textbook one), cpu_levers (the cpu profile's levers), probe (scale probes, on the
validation split), sweep (the sweep speed-up), gpu (the GPU fast path's levers and their
share of the bf16 peak), hardware (peaks and anchors, data), flops, projection (--project),
ledger (the reuse figures), summary (verdicts and the printout) and cli (flags only). A
profile's values come from tickets.profiles, never from reading the profile files here.
"""

from tickets.bench.cli import main
from tickets.bench.cpu_levers import levers
from tickets.bench.flops import forward_flops, linear_share_of_flops
from tickets.bench.gpu import gpu_lever_rows, gpu_levers
from tickets.bench.hardware import ANCHOR_SHARE_OF_PEAK, BF16_PEAK_TFLOPS, bf16_peak_tflops
from tickets.bench.ledger import reuse_figures
from tickets.bench.probe import scale_probe
from tickets.bench.projection import project
from tickets.bench.steps import reference_pgd, step_figures
from tickets.bench.summary import ADOPT_AT, adoption, lever_summary, profile_batch
from tickets.bench.sweep import sweep_speedup

__all__ = ["main", "levers", "forward_flops", "linear_share_of_flops", "gpu_lever_rows",
           "gpu_levers", "ANCHOR_SHARE_OF_PEAK", "BF16_PEAK_TFLOPS", "bf16_peak_tflops",
           "reuse_figures", "scale_probe", "project", "reference_pgd", "step_figures", "ADOPT_AT",
           "adoption", "lever_summary", "profile_batch", "sweep_speedup"]
