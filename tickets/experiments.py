"""Experiments the notebooks call, one function per experiment, each cached through the store.

A notebook holds parameters, calls these, and draws and judges what they return; the
computing happens here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import torch

from tickets import attacks
from tickets.config import AttackConfig, DataConfig, ModelConfig, RunConfig, TrainConfig
from tickets.config import replace as cfg_replace
from tickets.data import Data, load
from tickets.models import build, param_counts
from tickets.store import Store
from tickets.train import TrainRun, default_device, train


def attack_config(kind: str, eps: float = 8 / 255, steps: int = 7,
                  alpha: float | None = None, **kw) -> AttackConfig:
    """An adversary by name. Step sizes follow common practice when not given: 2/255 for
    PGD at eps 8/255 (2.5 eps / steps at other settings), 1.25 eps for FGSM-RS."""
    if alpha is None:
        if kind == "pgd":
            alpha = 2 / 255 if (abs(eps - 8 / 255) < 1e-9 and steps >= 4) else 2.5 * eps / steps
        else:
            alpha = 1.25 * eps
    return AttackConfig(kind=kind, eps=eps, steps=steps, alpha=alpha, **kw).validate()


def base_config(model: str = "conv4", width: float = 0.5, init: str = "signed_constant",
                pattern: str = "element", init_seed: int = 0, dataset: str = "cifar10",
                n_train: int = 5000, n_val: int = 500, data_seed: int = 0, epochs: int = 5,
                batch_size: int = 128, lr: float = 0.1, weight_decay: float = 5e-4,
                schedule: str = "cosine", adversary: str = "pgd", adv_steps: int = 3,
                eps: float = 8 / 255, val_steps: int = 5, n_val_eval: int = 500,
                seed: int = 0, track_test: bool = True) -> RunConfig:
    """The RST search configuration that every study starts from."""
    num_classes = 100 if dataset == "cifar100" else 10
    cfg = RunConfig(
        model=ModelConfig(name=model, width=width, num_classes=num_classes, init=init,
                          pattern=pattern, init_seed=init_seed, masked=True),
        data=DataConfig(dataset=dataset, n_train=n_train, n_val=n_val, n_test=0,
                        seed=data_seed),
        train=TrainConfig(trainable="scores", remaining=1.0, epochs=epochs,
                          batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                          schedule=schedule, seed=seed,
                          adversary=attack_config(adversary, eps, adv_steps),
                          val_attack=attack_config("pgd", eps, val_steps),
                          n_val_eval=n_val_eval, track_test=track_test))
    return cfg.validate()


@dataclass(frozen=True)
class EvalSpec:
    """How a model is evaluated: the strict protocol and the paper's, side by side."""

    n_test: int = 1000
    eps: float = 8 / 255
    pgd_steps: int = 20
    pgd_restarts: int = 1
    aa_n: int = 200
    aa_version: str = "standard"
    aa_attacks: tuple[str, ...] = ()
    seed: int = 0
    paper_protocol: bool = True  # also evaluate with test-set selection and early-stop PGD

    def strict_pgd(self) -> AttackConfig:
        return attack_config("pgd", self.eps, self.pgd_steps, alpha=2 / 255 if abs(
            self.eps - 8 / 255) < 1e-9 else None, restarts=self.pgd_restarts)

    def paper_pgd(self) -> AttackConfig:
        return cfg_replace(self.strict_pgd(), early_stop=True, restarts=1)

    def aa_label(self) -> str:
        if self.aa_version == "custom":
            return "AA(" + "+".join(self.aa_attacks) + ")"
        return f"AA-{self.aa_version}"


_DATA_CACHE: dict[tuple, Data] = {}


def load_data(cfg: RunConfig, n_test: int, device: str | torch.device | None = None) -> Data:
    """The run's data with n_test test images, loaded once per process."""
    device = torch.device(device) if device is not None else default_device()
    dcfg = cfg_replace(cfg.data, n_test=n_test)
    key = (dcfg, str(device))
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load(dcfg, device)
    return _DATA_CACHE[key]


@dataclass(frozen=True)
class _EvalKey:
    run: str
    which: str
    attack: str
    n: int
    seed: int
    data: DataConfig = field(default_factory=DataConfig)
    autoattack: str = ""


def evaluate_run(run: TrainRun, data: Data, spec: EvalSpec, store: Store | None = None,
                 which: str = "best", protocol: str = "strict") -> dict:
    """Clean, PGD and (strict protocol) AutoAttack accuracy of one checkpoint, cached.

    protocol='strict': the checkpoint chosen on validation, PGD without early stop, AutoAttack.
    protocol='paper': the checkpoint chosen on the test set, PGD with per-sample early stop.
    """
    from tickets.config import config_hash

    store = store or Store()
    attack = spec.strict_pgd() if protocol == "strict" else spec.paper_pgd()
    aa = f"{spec.aa_label()} n={spec.aa_n} v2" if protocol == "strict" and spec.aa_n else ""
    key = _EvalKey(config_hash(run.cfg), which, attack.describe(), spec.n_test, spec.seed,
                   data.cfg, aa)

    def compute() -> dict:
        model = run.model(which, device=data.test.x.device)
        t0 = time.perf_counter()
        r = attacks.evaluate(model, data.test, attack, n=spec.n_test, seed=spec.seed)
        out = {"clean": r.clean, "pgd": r.robust, "pgd_attack": r.attack, "n": r.n,
               "eval_seconds": time.perf_counter() - t0}
        if protocol == "strict" and spec.aa_n > 0:
            t0 = time.perf_counter()
            aa = attacks.autoattack(model, data.test, eps=spec.eps, n=spec.aa_n,
                                    version=spec.aa_version,
                                    attacks=list(spec.aa_attacks) or None, seed=spec.seed)
            out.update({"aa": aa.robust, "aa_clean": aa.clean, "aa_attack": aa.attack,
                        "aa_n": aa.n, "aa_seconds": time.perf_counter() - t0,
                        "aa_flags": aa.flags,
                        "aa_zero_grad_points": attacks.zero_gradient_points(aa.flags)})
            # PGD on the same images as AutoAttack, for a like-for-like gap
            sub = attacks.evaluate(model, data.test, attack, n=spec.aa_n, seed=spec.seed)
            out["pgd_on_aa_images"] = sub.robust
        return out

    return store.cached(key, f"eval-{protocol}-{which}", compute, kind="eval")


def _row(run: TrainRun, data: Data, spec: EvalSpec, store: Store, **extra) -> dict:
    strict = evaluate_run(run, data, spec, store, "best", "strict")
    paper_which = "best_test" if run.cfg.train.track_test else "last"
    paper = (evaluate_run(run, data, spec, store, paper_which, "paper") if spec.paper_protocol
             else {"clean": float("nan"), "pgd": float("nan")})
    model = run.model("best", device="cpu")
    counts = param_counts(model)
    row = {**extra, "kept_params": counts["kept"], "total_params": counts["total"],
           "clean": strict["clean"], "pgd20": strict["pgd"], "aa": strict.get("aa"),
           "pgd20_on_aa_images": strict.get("pgd_on_aa_images"),
           "aa_zero_grad_points": strict.get("aa_zero_grad_points"),
           "paper_clean": paper["clean"], "paper_pgd20": paper["pgd"],
           "best_epoch": run.best_epoch, "passes": run.passes, "train_seconds": run.seconds,
           "n_test": strict["n"], "aa_n": strict.get("aa_n"),
           "pgd_attack": strict["pgd_attack"], "aa_attack": strict.get("aa_attack")}
    return row


def rst_sweep(cfg: RunConfig, ratios: list[float], data: Data, spec: EvalSpec,
              store: Store | None = None, progress: bool = True) -> pd.DataFrame:
    """Search one RST per remaining ratio in one random network, and evaluate each."""
    store = store or Store()
    rows = []
    for r in ratios:
        run_cfg = cfg_replace(cfg, **{"train.remaining": float(r)})
        run = train(run_cfg, data, store, device=data.train.x.device, progress=progress)
        rows.append(_row(run, data, spec, store, kind="RST", remaining=float(r),
                         width=cfg.model.width))
    return pd.DataFrame(rows)


def dense_config(cfg: RunConfig, width: float | None = None, lr: float | None = None
                 ) -> RunConfig:
    """Dense PGD-AT with the search's data, adversary, epochs and batch: the same budget in
    forward+backward passes. Weights get Kaiming-normal init and affine BatchNorm."""
    return cfg_replace(cfg, **{"model.masked": False, "model.init": "kaiming_normal",
                               "model.pattern": "element",
                               "model.width": cfg.model.width if width is None else width,
                               "train.trainable": "weights", "train.remaining": 1.0,
                               "train.lr": cfg.train.lr if lr is None else lr})


def matching_width(name: str, target_params: int, num_classes: int = 10) -> float:
    """The width multiplier whose dense model has about target_params weights."""
    lo, hi = 1 / 64, 4.0
    for _ in range(30):
        mid = (lo * hi) ** 0.5
        n = param_counts(build(name, width=mid, masked=False, num_classes=num_classes))["total"]
        lo, hi = (mid, hi) if n < target_params else (lo, mid)
    return round((lo * hi) ** 0.5, 4)


def dense_baselines(cfg: RunConfig, rst_table: pd.DataFrame, data: Data, spec: EvalSpec,
                    store: Store | None = None, lr: float | None = None,
                    progress: bool = True) -> pd.DataFrame:
    """Dense PGD-AT of the same architecture, and of a width whose weight count matches the
    best RST's kept weights (best by strict validation-chosen PGD accuracy)."""
    store = store or Store()
    best = rst_table.loc[rst_table["pgd20"].idxmax()]
    small_w = matching_width(cfg.model.name, int(best["kept_params"]), cfg.model.num_classes)
    rows = []
    for label, w in (("dense PGD-AT (same width)", cfg.model.width),
                     ("dense PGD-AT (RST's size)", small_w)):
        dcfg = dense_config(cfg, w, lr)
        run = train(dcfg, data, store, device=data.train.x.device, progress=progress)
        rows.append(_row(run, data, spec, store, kind=label, remaining=1.0, width=w))
    return pd.DataFrame(rows)


def describe_scale(profile: str, cfg: RunConfig, data: Data, spec: EvalSpec) -> str:
    """One line naming the scale and data a number was measured at."""
    adv = cfg.train.adversary
    adv_s = f"PGD-{adv.steps}" if adv.kind == "pgd" else adv.kind.upper()
    aa = f", {spec.aa_label()} on {spec.aa_n}" if spec.aa_n else ""
    return (f"{profile} profile: {cfg.model.name} width {cfg.model.width:g}, "
            f"{data.cfg.dataset} {data.source}, {len(data.train)} train / {len(data.val)} val "
            f"images, {cfg.train.epochs} epochs, {adv_s} eps {adv.eps * 255:g}/255 in training; "
            f"PGD-{spec.pgd_steps} on {spec.n_test} test images{aa}")


def rst_grid(cfg: RunConfig, variants: dict[str, dict], ratios: list[float], data: Data,
             spec: EvalSpec, store: Store | None = None, progress: bool = True
             ) -> pd.DataFrame:
    """rst_sweep for each variant of the search configuration.

    variants maps a label to dotted config changes, e.g.
    {"kaiming_normal": {"model.init": "kaiming_normal"}}. Runs whose configuration equals one
    already stored (another study's, say) are reused.
    """
    tables = []
    for label, changes in variants.items():
        t = rst_sweep(cfg_replace(cfg, **changes), ratios, data, spec, store, progress)
        t.insert(0, "variant", label)
        tables.append(t)
    return pd.concat(tables, ignore_index=True)


def training_histories(cfg: RunConfig, variants: dict[str, dict], ratio: float, data: Data,
                       store: Store | None = None) -> dict[str, list[dict]]:
    """The per-epoch histories of stored runs (trained by rst_grid), by variant label."""
    out = {}
    for label, changes in variants.items():
        run_cfg = cfg_replace(cfg, **{**changes, "train.remaining": float(ratio)})
        out[label] = train(run_cfg, data, store or Store(), device=data.train.x.device,
                           progress=False).history
    return out


def sanity_checks(runs: dict[str, RunConfig], data: Data, eps: float = 8 / 255, n: int = 100,
                  square_queries: int = 1000, store: Store | None = None) -> pd.DataFrame:
    """The sanity-check suite (tickets.sanity) on the validation-chosen checkpoint of each
    stored run, cached; one row per model and check."""
    from tickets import sanity
    from tickets.config import config_hash

    store = store or Store()
    results = {}
    for label, run_cfg in runs.items():
        run = train(run_cfg, data, store, device=data.train.x.device, progress=False)
        key = _EvalKey(config_hash(run_cfg), "best", f"sanity eps={eps} sq={square_queries}", n,
                       0, data.cfg)

        def compute(run=run) -> dict:
            model = run.model("best", device=data.test.x.device)
            return {"checks": [c.as_dict() for c in sanity.run_checks(
                model, data.test, eps=eps, n=n, square_queries=square_queries)]}

        found = store.cached(key, "sanity", compute, kind="eval")
        results[label] = [sanity.Check(**c) for c in found["checks"]]
    return sanity.table(results)


def r2s_sanity(cfg: RunConfig, ratios: list[float], data: Data, eps: float = 8 / 255,
               n: int = 100, square_queries: int = 1000, repeats: int = 3,
               switch: str = "input", seed: int = 0, store: Store | None = None
               ) -> pd.DataFrame:
    """The sanity-check suite on the R2S of cfg's tickets at `ratios` (a randomised model, so
    with the repeated-evaluation check), cached; rows as sanity_checks gives them."""
    from tickets import r2s as r2s_mod
    from tickets import sanity
    from tickets.config import config_hash

    store = store or Store()
    runs = [train(cfg_replace(cfg, **{"train.remaining": float(r)}), data, store,
                  device=data.train.x.device, progress=False) for r in ratios]
    key = _EvalKey("|".join(config_hash(r.cfg) for r in runs), "best",
                   f"r2s-sanity {switch} eps={eps} sq={square_queries} rep={repeats}", n, seed,
                   data.cfg)

    def compute() -> dict:
        dev = data.test.x.device
        members = [r.model("best", device=dev) for r in runs]
        model = r2s_mod.R2S(members, switch=switch, seed=seed).eval()
        return {"checks": [c.as_dict() for c in sanity.run_checks(
            model, data.test, eps=eps, n=n, seed=seed, square_queries=square_queries,
            repeats=repeats)]}

    found = store.cached(key, "sanity", compute, kind="eval")
    return sanity.table({f"R2S of r={', '.join(f'{r:g}' for r in ratios)}":
                         [sanity.Check(**c) for c in found["checks"]]})


def run_config_for(cfg: RunConfig, remaining: float | None = None, dense_width: float | None = None
                   ) -> RunConfig:
    """The configuration of an RST of `remaining` in cfg's network, or of its dense baseline."""
    if dense_width is not None:
        return dense_config(cfg, dense_width)
    return cfg_replace(cfg, **{"train.remaining": float(remaining)})


def transfer_matrix(cfg: RunConfig, ratios: list[float], data: Data, attack: AttackConfig,
                    n: int, store: Store | None = None, seed: int = 0) -> pd.DataFrame:
    """Accuracy of the RST of ratio b (columns) on adversarial examples crafted on the RST of
    ratio a (rows), all searched in cfg's one random network; cached in the store."""
    from tickets.config import config_hash

    store = store or Store()
    runs = {r: train(cfg_replace(cfg, **{"train.remaining": float(r)}), data, store,
                     device=data.train.x.device, progress=False) for r in ratios}
    key = _EvalKey("|".join(config_hash(run.cfg) for run in runs.values()), "best",
                   "transfer " + attack.describe(), n, seed, data.cfg)

    def compute() -> dict:
        models = {r: run.model("best", device=data.test.x.device) for r, run in runs.items()}
        split = data.test.head(n)
        g = torch.Generator(device=split.x.device).manual_seed(seed)
        x, y = split.images(), split.y
        out = {}
        for a, src in models.items():
            xa = torch.cat([attacks.perturb(src, x[i:i + 250], y[i:i + 250], attack, g)
                            for i in range(0, len(y), 250)])
            for b, dst in models.items():
                out[f"{a}->{b}"] = (attacks.predict(dst, xa) == y).float().mean().item()
        return {"acc": out}

    acc = store.cached(key, "transfer", compute, kind="eval")["acc"]
    m = pd.DataFrame(index=pd.Index(ratios, name="crafted on"),
                     columns=pd.Index(ratios, name="evaluated on"), dtype=float)
    for a in ratios:
        for b in ratios:
            m.loc[a, b] = acc[f"{a}->{b}"]
    return m


def r2s_evaluation(cfg: RunConfig, ratios: list[float], data: Data, spec: EvalSpec, n: int,
                   eot_n: int = 8, draws: int = 5, aa_n: int = 100, aa_eot_iter: int = 20,
                   switch: str = "input", store: Store | None = None) -> pd.DataFrame:
    """The R2S of cfg's tickets at `ratios` under five evaluations, side by side, cached.

    1. paper: PGD crafted on one randomly chosen member per batch, evaluated on the R2S;
    2. exact expectation of the loss, and of the softmax, over all members;
    3. EOT-PGD with eot_n sampled switches per step;
    4. AutoAttack's version for randomised defences (APGD-CE and APGD-DLR with EOT over
       aa_eot_iter draws; 20 is the standard), evaluated over `draws` draws;
    5. transfer from the same-width dense PGD-AT model.
    Every accuracy on the switched R2S is the mean over `draws` random draws.
    """
    from tickets import r2s as r2s_mod
    from tickets.config import config_hash

    store = store or Store()
    runs = [train(cfg_replace(cfg, **{"train.remaining": float(r)}), data, store,
                  device=data.train.x.device, progress=False) for r in ratios]
    dense_run = train(dense_config(cfg), data, store, device=data.train.x.device,
                      progress=False)
    attack = spec.strict_pgd()
    key = _EvalKey("|".join(config_hash(r.cfg) for r in runs), "best",
                   f"r2s {switch} {attack.describe()} eot={eot_n} draws={draws} aa={aa_n}/"
                   f"{aa_eot_iter}", n, spec.seed, data.cfg)

    def compute() -> dict:
        dev = data.test.x.device
        members = [r.model("best", device=dev) for r in runs]
        model = r2s_mod.R2S(members, switch=switch, seed=spec.seed).eval()
        split = data.test.head(n)
        x, y = split.images(), split.y
        g = torch.Generator(device=dev).manual_seed(spec.seed)
        pick = torch.Generator().manual_seed(spec.seed + 1)
        rows = []

        def batched(fn) -> torch.Tensor:
            return torch.cat([fn(x[i:i + 250], y[i:i + 250]) for i in range(0, len(y), 250)])

        def row(name: str, how: str, x_adv: torch.Tensor, t0: float) -> None:
            mean, spread = r2s_mod.randomized_accuracy(model, x_adv, y, draws)
            rows.append({"evaluation": name, "attack": how, "accuracy": mean, "spread": spread,
                         "n": len(y), "draws": draws, "seconds": time.perf_counter() - t0})

        t0 = time.perf_counter()
        row("clean", "none", x, t0)
        t0 = time.perf_counter()
        k = lambda: int(torch.randint(0, len(members), (1,), generator=pick))  # noqa: E731
        row("1 paper: PGD on a random member", attack.describe(),
            batched(lambda xb, yb: attacks.perturb(members[k()], xb, yb, attack, g)), t0)
        for over in ("loss", "softmax"):
            t0 = time.perf_counter()
            exp = r2s_mod.Expectation(model, over=over)
            row(f"2 exact expectation of the {over}", attack.describe(),
                batched(lambda xb, yb, e=exp: attacks.perturb(e, xb, yb, attack, g)), t0)
        t0 = time.perf_counter()
        eot = r2s_mod.EOT(model, eot_n)
        row(f"3 EOT-PGD, {eot_n} draws per step", attack.describe(),
            batched(lambda xb, yb: attacks.perturb(eot, xb, yb, attack, g)), t0)
        if aa_n:
            from pyautoattack import AutoAttack

            t0 = time.perf_counter()
            m = min(aa_n, len(y))
            with attacks.autoattack_log():
                aa = AutoAttack(model, version="rand", eps=spec.eps, device=dev, seed=spec.seed)
                aa.verbose = False
                aa.apgd.eot_iter = aa_eot_iter
                xa = aa.run_standard_evaluation(x[:m], y[:m], batch_size=250)[0]
            mean, spread = r2s_mod.randomized_accuracy(model, xa, y[:m], draws)
            clean_sub, _ = r2s_mod.randomized_accuracy(model, x[:m], y[:m], draws)
            rows.append({"evaluation": "4 AutoAttack (rand version)",
                         "attack": f"APGD-CE+APGD-DLR, EOT {aa_eot_iter}", "accuracy": mean,
                         "spread": spread, "n": m, "draws": draws,
                         "seconds": time.perf_counter() - t0, "clean_same_images": clean_sub})
        t0 = time.perf_counter()
        dense = dense_run.model("best", device=dev)
        row("5 transfer from dense PGD-AT", attack.describe(),
            batched(lambda xb, yb: attacks.perturb(dense, xb, yb, attack, g)), t0)
        single = [attacks.evaluate(mm, data.test, attack, n=n, seed=spec.seed).robust
                  for mm in members]
        return {"rows": rows, "single_member_pgd": single,
                "storage": r2s_mod.storage_bytes(model),
                "inference": r2s_mod.inference_cost(model, x[:256])}

    return store.cached(key, "r2s", compute, kind="eval")


def compaction_speed(cfg: RunConfig, ratio: float, data: Data, batch: int = 256,
                     repeats: int = 10, store: Store | None = None) -> dict:
    """Compact the channel-wise RST of `ratio`, check its logits against the masked model, and
    time inference (CPU, one process, interleaved) for the dense network, the element-wise
    masked RST, the channel-wise masked RST and the compacted one. Timings are not cached."""
    import statistics

    from tickets import compact as compact_mod
    from tickets.models import build_from_config

    store = store or Store()
    ch_cfg = cfg_replace(cfg, **{"model.pattern": "channel", "train.remaining": float(ratio)})
    el_cfg = cfg_replace(cfg, **{"model.pattern": "element", "train.remaining": float(ratio)})
    ch = train(ch_cfg, data, store, device="cpu", progress=False).model("best", "cpu")
    el = train(el_cfg, data, store, device="cpu", progress=False).model("best", "cpu")
    cl = torch.channels_last  # as the trained models are (see train.prepare_model)
    small = compact_mod.compact(ch).to(memory_format=cl)
    dense = build_from_config(dense_config(cfg).model).eval().to(memory_format=cl)
    x = data.test.images(slice(0, batch)).cpu()
    with torch.no_grad():
        gap = (ch(x) - small(x)).abs().max().item()
        nets = {"dense network": dense, "element-wise RST (masked)": el,
                "channel-wise RST (masked)": ch, "channel-wise RST (compacted)": small}
        times: dict[str, list[float]] = {k: [] for k in nets}
        for _ in range(2):
            for m in nets.values():
                m(x)
        for _ in range(repeats):
            for k, m in nets.items():
                t0 = time.perf_counter()
                m(x)
                times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    def weights(m: torch.nn.Module) -> tuple[int, int]:
        mods = [mm for mm in m.modules() if isinstance(mm, (torch.nn.Conv2d, torch.nn.Linear))]
        return (sum(mm.weight.numel() for mm in mods),
                sum(int(mm.kept()) if hasattr(mm, "kept") else int((mm.weight != 0).sum())
                    for mm in mods))

    rows = [{"model": k, "ms_per_batch": 1000 * v, "images_per_s": batch / v,
             "speedup_vs_dense": med["dense network"] / v,
             "weights": weights(nets[k])[0], "nonzero_weights": weights(nets[k])[1]}
            for k, v in med.items()]
    return {"rows": rows, "max_logit_gap": gap, "batch": batch, "repeats": repeats}


def lottery(cfg: RunConfig, ratios: list[float], data: Data, spec: EvalSpec,
            ft_lr: float = 0.1, store: Store | None = None, progress: bool = True
            ) -> pd.DataFrame:
    """RST against FT-Inherit (its own random weights trained under its fixed mask) and
    FT-Reinit (the same mask, weights drawn afresh, trained the same way), per ratio. The
    fine-tuning runs have the search's budget in epochs, adversary and batch."""
    from tickets.config import config_hash
    from tickets.models import build_from_config
    from tickets.train import fixed_mask_state

    store = store or Store()
    rows = []
    for r in ratios:
        rst_cfg = cfg_replace(cfg, **{"train.remaining": float(r)})
        rst_run = train(rst_cfg, data, store, device=data.train.x.device, progress=progress)
        rows.append(_row(rst_run, data, spec, store, kind="RST", remaining=float(r)))
        inherit = fixed_mask_state(rst_run.model("best", device="cpu"))
        fresh = build_from_config(cfg_replace(cfg.model, init="kaiming_normal",
                                              init_seed=cfg.model.init_seed + 1)).state_dict()
        reinit = {k: (fresh[k] if k.endswith("weight") else v) for k, v in inherit.items()}
        for label, state in (("FT-Inherit", inherit), ("FT-Reinit", reinit)):
            ft_cfg = cfg_replace(rst_cfg, **{"train.trainable": "weights", "train.lr": ft_lr,
                                             "tag": f"{label}:{config_hash(rst_cfg)}"})
            run = train(ft_cfg, data, store, device=data.train.x.device, progress=progress,
                        init_state=state)
            rows.append(_row(run, data, spec, store, kind=label, remaining=float(r)))
    return pd.DataFrame(rows)
