"""Hardware data the bench compares against: bf16 peaks, a published sustained rate, and the
project's own first measurement of the gpu search step. Data only, with its sources."""

from __future__ import annotations

# Dense bf16 tensor-core peaks in TFLOP/s, from NVIDIA's H100 and H200 datasheets (the sparse
# figures are twice these).
BF16_PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0}

# Published anchor for the sustained rate of a convnet under mixed precision: NVIDIA's
# DeepLearningExamples, ResNet-50 v1.5 for PyTorch, 1 x A100 80GB, mixed precision training:
# 2,470 img/s. At 4.1 GMACs (8.2 GFLOPs) a forward pass and 3 forward passes' worth per
# training image that is 2,470 x 24.6 GFLOP = 61 TFLOP/s, 19.5 % of the A100's 312 TFLOP/s
# dense fp16/bf16 peak. The projection applies the same share to the H100's peak.
ANCHOR_SHARE_OF_PEAK = 2470 * 3 * 8.2e9 / 312e12

# The gpu search step as first measured (one H200, torch 2.11, the whole fast path): an RST
# of ResNet-18 width 1 at 10 % remaining, PGD-3 crafting, batch 256. The bench states its own
# step against this figure when it measures the same network and attack.
FIRST_CONTACT_SEARCH = {"gpu": "H200", "model": "resnet18", "width": 1.0, "steps": 3,
                        "batch": 256, "images_per_s": 7216.3}


def bf16_peak_tflops(name: str) -> float | None:
    """The dense bf16 peak of a GPU by its name, or None when it is not in the table."""
    for key in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True):
        if all(part in name for part in key.split()):
            return BF16_PEAK_TFLOPS[key]
    return None
