"""Figures for the notebooks. Every figure names its profile and data in its title."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def ratio_curve(rst: pd.DataFrame, dense: pd.DataFrame, paper_curve: dict[float, float],
                paper_dense: dict[str, float], title: str, pgd: str = "PGD") -> plt.Figure:
    """Robust and clean accuracy against remaining ratio, ours beside the paper's curve.
    pgd names the attack in the legend (PGD-20, say)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    # mean over search seeds, with min-max bars when there are several
    g = rst.groupby("remaining")
    t = g[["pgd", "paper_pgd", "clean", "aa"]].mean().reset_index()
    lo = g[["pgd", "clean"]].min().reset_index()
    hi = g[["pgd", "clean"]].max().reset_index()
    d = dense.groupby("kind", sort=False)[["pgd", "clean"]].mean().reset_index()
    ax = axes[0]
    ax.errorbar(t["remaining"], 100 * t["pgd"], yerr=[100 * (t["pgd"] - lo["pgd"]),
                                                      100 * (hi["pgd"] - t["pgd"])],
                fmt="o-", color="C0", capsize=3, label=f"RST, {pgd} (strict)")
    ax.plot(t["remaining"], 100 * t["paper_pgd"], "o--", color="C0", alpha=0.5,
            label=f"RST, {pgd} (paper protocol)")
    if t["aa"].notna().any():
        ax.plot(t["remaining"], 100 * t["aa"], "s-", color="C3", label="RST, AutoAttack")
    for (_, row), c in zip(d.iterrows(), ("C2", "C4"), strict=False):
        ax.axhline(100 * row["pgd"], color=c, ls=":", label=f"{row['kind']}, {pgd}")
    ax.plot(list(paper_curve), list(paper_curve.values()), "x-", color="gray",
            label="paper, ResNet-18 (~)")
    ax.axhline(paper_dense["pgd"], color="gray", ls=":", lw=1, label="paper dense PGD-AT")
    ax.set_xscale("log")
    ax.set_xlabel("remaining ratio (kept fraction of weights)")
    ax.set_ylabel("robust accuracy (%)")
    ax.set_title(f"Robust accuracy (mean of {rst['seed'].nunique() if 'seed' in rst else 1} "
                 f"seed(s), bars: min-max)")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.errorbar(t["remaining"], 100 * t["clean"], yerr=[100 * (t["clean"] - lo["clean"]),
                                                        100 * (hi["clean"] - t["clean"])],
                fmt="o-", color="C0", capsize=3, label="RST, clean")
    for (_, row), c in zip(d.iterrows(), ("C2", "C4"), strict=False):
        ax.axhline(100 * row["clean"], color=c, ls=":", label=f"{row['kind']}, clean")
    ax.axhline(paper_dense["clean"], color="gray", ls=":", lw=1, label="paper dense PGD-AT")
    ax.set_xscale("log")
    ax.set_xlabel("remaining ratio")
    ax.set_ylabel("clean accuracy (%)")
    ax.set_title("Clean accuracy")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def training_curves(histories: dict[str, list[dict]], key: str = "val_robust",
                    title: str = "") -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, h in histories.items():
        ax.plot([r["epoch"] for r in h], [100 * r.get(key, float("nan")) for r in h], "o-",
                label=label, ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{key} (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def variant_curves(table: pd.DataFrame, title: str, paper: dict[str, float] | None = None,
                   metric: str = "pgd") -> plt.Figure:
    """Robust accuracy against remaining ratio, one line per variant; the paper's peak value
    per variant (if given) as a dotted level in the same colour."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (label, t) in enumerate(table.groupby("variant", sort=False)):
        t = t.groupby("remaining")[metric].mean().reset_index()  # mean over search seeds
        ax.plot(t["remaining"], 100 * t[metric], "o-", color=f"C{i}", label=f"{label} (ours)")
        if paper and label in paper:
            ax.axhline(paper[label], color=f"C{i}", ls=":", lw=1,
                       label=f"{label}: paper's peak (~)")
    if table["remaining"].nunique() > 1:
        ax.set_xscale("log")
    ax.set_xlabel("remaining ratio")
    ax.set_ylabel(f"{metric} accuracy (%)")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def transfer_heatmaps(matrices: dict[str, pd.DataFrame], title: str) -> plt.Figure:
    """Side-by-side heatmaps of transfer accuracy (%), crafted-on rows, evaluated-on columns."""
    import seaborn as sns

    fig, axes = plt.subplots(1, len(matrices), figsize=(5.5 * len(matrices), 4.5))
    axes = [axes] if len(matrices) == 1 else axes
    for ax, (label, m) in zip(axes, matrices.items(), strict=True):
        sns.heatmap(100 * m.astype(float), annot=True, fmt=".1f", cmap="viridis", ax=ax,
                    cbar_kws={"label": "accuracy (%)"})
        ax.set_title(label, fontsize=9)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def line_panels(df: pd.DataFrame, x: str, ys: list[tuple[str, str]], hue: str, title: str,
                percent: bool = True, logx: bool = False, baselines: dict[str, float] | None = None
                ) -> plt.Figure:
    """One panel per (column, axis label) in ys: a line per value of `hue` against x.
    baselines draws labelled horizontal levels (in the same units as the columns)."""
    fig, axes = plt.subplots(1, len(ys), figsize=(max(5.6 * len(ys), 9.0), 3.8), squeeze=False)
    scale = 100 if percent else 1
    for ax, (col, label) in zip(axes[0], ys, strict=True):
        for i, (name, t) in enumerate(df.groupby(hue, sort=False)):
            t = t.sort_values(x)
            ax.plot(t[x], scale * t[col], "o-", ms=3, color=f"C{i}", label=str(name))
        for j, (name, v) in enumerate((baselines or {}).items()):
            ax.axhline(scale * v, color="gray", ls=(":" if j % 2 == 0 else "--"), lw=1,
                       label=name)
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def dynamics_panels(dyn: pd.DataFrame, title: str) -> plt.Figure:
    """Kernel distance and output gap to the dense net along training (adversarial probes),
    one column per sparsity, one line per mask method."""
    sparsities = sorted(dyn["sparsity"].unique())
    fig, axes = plt.subplots(2, len(sparsities), figsize=(3.6 * len(sparsities), 6),
                             squeeze=False, sharex=True)
    for j, s in enumerate(sparsities):
        t = dyn[dyn["sparsity"] == s]
        for i, (name, g) in enumerate(t.groupby("label", sort=False)):
            g = g.sort_values("epoch")
            axes[0, j].plot(g["epoch"], g["kernel_distance_adv"], "o-", ms=3, color=f"C{i}",
                            label=name)
            axes[1, j].plot(g["epoch"], g["output_gap_adv"], "o-", ms=3, color=f"C{i}",
                            label=name)
        axes[0, j].set_title(f"{100 * s:g} % pruned", fontsize=9)
        axes[1, j].set_xlabel("epoch")
    axes[0, 0].set_ylabel("kernel distance to dense")
    axes[1, 0].set_ylabel("output gap to dense")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def grouped_bars(wide: pd.DataFrame, ylabel: str, title: str) -> plt.Figure:
    """Bars (in %) of the columns of `wide`, grouped by its index (the lottery comparison)."""
    ax = (100 * wide).plot.bar(figsize=(7, 3.6), rot=0)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=7)
    ax.figure.tight_layout()
    return ax.figure


def horizontal_bars(labels: pd.Series, values: pd.Series, xlabel: str, title: str,
                    xerr: pd.Series | None = None, line: tuple[float, str] | None = None,
                    colors: list[str] | None = None) -> plt.Figure:
    """One bar per label; xerr half-widths and a labelled vertical line (value, label)."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.4))
    ax.barh(labels, values, xerr=xerr, color=colors or "C0")
    if line is not None:
        ax.axvline(line[0], color="C3", ls="--", label=line[1])
        ax.legend(fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return fig


def capacity_panels(by_width: pd.DataFrame, by_depth: pd.DataFrame, width: float,
                    title: str) -> plt.Figure:
    """The best RST's clean and robust accuracy by the random network's size (weights, log
    scale) and by its depth (at one width)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for t, x, ax in ((by_width, "total_params", axes[0]), (by_depth, "variant", axes[1])):
        ax.plot(t[x], 100 * t["pgd"], "o-", label="PGD")
        ax.plot(t[x], 100 * t["clean"], "s--", label="clean")
        ax.set_ylabel("accuracy of the best RST (%)")
        ax.legend(fontsize=8)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("weights in the random network")
    axes[0].set_title("by width")
    axes[1].set_title(f"by depth (width {width:g})")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig
