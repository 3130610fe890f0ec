"""Study 04: the adversary inside the search (PGD, FGSM, FGSM with random start)."""

from __future__ import annotations

from tickets.recipes import attack_config


def search_adversaries(kinds: list[str], eps: float, pgd_steps: int) -> dict[str, dict]:
    """rst_grid variants, one per adversary: PGD with pgd_steps steps, single-step otherwise."""
    return {k: {"train.adversary": attack_config(k, eps, pgd_steps if k == "pgd" else 1)}
            for k in kinds}


def catastrophic_overfitting(history: list[dict], drop: float = 0.10) -> bool:
    """Validation robust accuracy falls by `drop` or more from its best to its last epoch."""
    vals = [h["val_robust"] for h in history if "val_robust" in h]
    return bool(vals) and max(vals) - vals[-1] >= drop


def overfitting_table(histories: dict[str, list[dict]], drop: float = 0.10) -> list[dict]:
    """Per search: catastrophic overfitting, and the best and last validation robust accuracy."""
    return [{"variant": k, "catastrophic_overfitting": catastrophic_overfitting(h, drop),
             "best_val_robust": max(r["val_robust"] for r in h),
             "last_val_robust": h[-1]["val_robust"]} for k, h in histories.items()]


__all__ = ["search_adversaries", "catastrophic_overfitting", "overfitting_table"]
