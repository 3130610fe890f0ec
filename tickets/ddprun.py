"""The torchrun entry point of a distributed run (tickets.ddp says how it works).

    python -m torch.distributed.run --nproc_per_node=2 -m tickets.ddprun \\
        --config run.json [--data-config data.json] [--store runs] [--check-masks]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist

from tickets.ddp import check_masks, is_main


def main(argv: list[str] | None = None) -> None:
    from tickets.config import DataConfig, RunConfig, from_dict
    from tickets.data import load
    from tickets.store import Store
    from tickets.train import train

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, type=Path, help="the run's config.json")
    ap.add_argument("--data-config", type=Path, default=None,
                    help="the data configuration (DataConfig as JSON); default: the run's own")
    ap.add_argument("--store", default=None, help="default TICKETS_STORE or runs/")
    ap.add_argument("--checkpoint-every-steps", type=int, default=0)
    ap.add_argument("--check-masks", action="store_true",
                    help="check after every step that all ranks hold the same masks")
    a = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        cfg = from_dict(RunConfig, json.loads(a.config.read_text()))
        data_cfg = (from_dict(DataConfig, json.loads(a.data_config.read_text()))
                    if a.data_config else cfg.data)
        data = load(data_cfg, device)
        callback = check_masks if a.check_masks else None
        run = train(cfg, data, Store(a.store), device=device, progress=is_main(),
                    checkpoint_every_steps=a.checkpoint_every_steps, step_callback=callback)
        if is_main():
            print(json.dumps({"run": str(run.directory), "passes": run.passes,
                              "history": run.history}))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
