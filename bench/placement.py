"""Placement: time to ready with price-only ranking (PLACEMENT_MODE=price_only) and with the new placement.

The real server against the fake Runpod's capacity model, in simulated time (`--scale` simulated
seconds per wall second: the fake's cold starts and the product's poll interval, placement timeout
and deadline are all divided by it). The catalog: the two cheapest pools that fit are out of stock
(NONE); the next three are listed in stock (MEDIUM) but have only `--slots` free GPUs each (the
catalog's level does not count free GPUs); the dearer pools have room. Deployments arrive every
`--every` simulated seconds; a worker holds its GPU from placement until the deployment is ready and
scales to zero. Figures are simulated seconds (created_at -> ready_at on the product's clock).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from typing import Any

from bench.common import percentile, start
from shared.catalog import gpu_pools
from shared.platform.clock import parse
from tests.e2e_support import Fakes, create_body, running_fakes

OUT_OF_STOCK = ["AMPERE_16", "AMPERE_24"]
SCARCE = ["ADA_24", "AMPERE_48", "ADA_48_PRO"]
COLD_STARTS = {"ADA_24": 60.0, "AMPERE_48": 75.0, "ADA_48_PRO": 75.0}  # simulated s; others DEFAULT_COLD
DEFAULT_COLD = 90.0


def run(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    with running_fakes() as fakes:
        stock(fakes, args)
        scale = args.scale
        server = start(
            {
                **fakes.env(),
                "PLACEMENT_MODE": mode,
                "READY_POLL_INTERVAL_SECONDS": str(15 / scale),
                "PLACEMENT_TIMEOUT_SECONDS": str(180 / scale),
                "DEPLOY_TIMEOUT_SECONDS": str(3600 / scale),
                "STEP_TIMEOUT_SECONDS": str(3600 / scale),
            }
        )
        try:
            ids = []
            for _ in range(args.deployments):
                resp = server.post("/v1/deployments", json=create_body(fakes, gpu_tier="auto"))
                assert resp.status_code == 202, resp.text
                ids.append(resp.json()["deployment_id"])
                time.sleep(args.every / scale)
            final = settle(server, ids)
            return figures(fakes, final, scale)
        finally:
            server.stop()


def stock(fakes: Fakes, args: argparse.Namespace) -> None:
    for pool in gpu_pools.pools():
        fakes.runpod.set_availability(pool.id, "NONE" if pool.id in OUT_OF_STOCK else "MEDIUM")
    fakes.runpod.simulate_capacity(
        cold_starts={p.id: COLD_STARTS.get(p.id, DEFAULT_COLD) for p in gpu_pools.pools()},
        capacity=dict.fromkeys(SCARCE, args.slots),
        time_scale=args.scale,
    )


def settle(server: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Every deployment once it is ready or failed."""
    final: dict[str, dict[str, Any]] = {}
    while len(final) < len(ids):
        for dep_id in ids:
            if dep_id not in final:
                body = server.deployment(dep_id)
                if body["status"] in ("ready", "failed"):
                    final[dep_id] = body
        time.sleep(0.5)
    return final


def figures(fakes: Fakes, final: dict[str, dict[str, Any]], scale: float) -> dict[str, Any]:
    ready = [b for b in final.values() if b["status"] == "ready"]
    to_ready = [(parse(b["ready_at"]) - parse(b["created_at"])).total_seconds() * scale for b in ready]
    replaced = [b for b in final.values() if any(h["state"] == "applied" for h in b["placement"]["history"])]
    landed = Counter(pool for _, pool in fakes.runpod.placements)
    prices = [gpu_pools.pool_by_id(p).price_per_gpu_hour or 0.0 for _, p in fakes.runpod.placements]  # type: ignore[union-attr]
    return {
        "ready": len(ready),
        "failed": len(final) - len(ready),
        "p50": percentile(to_ready, 50) if to_ready else float("nan"),
        "p95": percentile(to_ready, 95) if to_ready else float("nan"),
        "max": max(to_ready, default=float("nan")),
        "replaced": len(replaced),
        "price": statistics.fmean(prices) if prices else float("nan"),
        "landed": dict(landed.most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--scale", type=float, default=20.0, help="simulated seconds per wall second")
    parser.add_argument("--every", type=float, default=6.0, help="simulated seconds between two creates")
    parser.add_argument("--slots", type=int, default=3, help="free GPUs in each scarce pool")
    args = parser.parse_args()
    print(
        f"placement: {args.deployments} deployments (SDXL), one every {args.every:.0f} s; out of stock: "
        f"{', '.join(OUT_OF_STOCK)}; {args.slots} free GPUs each in {', '.join(SCARCE)}; cold starts "
        f"{', '.join(f'{p} {s:.0f} s' for p, s in COLD_STARTS.items())}, others {DEFAULT_COLD:.0f} s; "
        f"time scale x{args.scale:.0f} (figures in simulated seconds)",
        flush=True,
    )
    for mode in ("price_only", "availability"):
        t0 = time.perf_counter()
        f = run(mode, args)
        print(
            f"{mode:>12}: ready {f['ready']}/{f['ready'] + f['failed']} p50={f['p50']:.0f}s p95={f['p95']:.0f}s "
            f"max={f['max']:.0f}s re-placed={f['replaced']} mean price of the GPU used=${f['price']:.2f}/GPU-hour "
            f"pools used={f['landed']} (wall {time.perf_counter() - t0:.0f}s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
