"""Cloudflare Workers (Paid, standard usage model): subscription + requests and CPU-ms beyond the
included amounts. Not a drop-in: torch does not run in Workers, the model would need a port to JS/WASM.
"""

from __future__ import annotations

from dataclasses import dataclass

from costing.choices import CLOUDFLARE_WORKERS
from costing.model import capacity as inference
from costing.model.assumptions import WORKERS_MEMORY_PER_MODEL_BYTE, ServingAssumptions
from costing.model.drivers import Drivers, Line
from costing.model.platforms.base import Evaluation, OptionPlan, SupportRates
from costing.model.platforms.design import FRONT_DOOR, TRANSFER
from costing.model.profile import ModelProfile
from costing.model.results import OptionCost, infeasible
from costing.pricing.sheet import PriceSheet


@dataclass(frozen=True)
class WorkersPlan(OptionPlan):
    cpu_ms_per_request: float = 0.0  # nominal
    latency_p95_seconds: float = 0.0
    monthly_base_usd: float = 0.0
    included_requests: float = 0.0
    usd_per_million_requests: float = 0.0
    included_cpu_ms: float = 0.0
    usd_per_million_cpu_ms: float = 0.0

    def evaluate(self, drivers: Drivers) -> Evaluation:
        requests = self._requests_per_month(drivers)
        cpu_ms = requests * self.cpu_ms_per_request * drivers.latency_factor
        lines = [
            Line(
                "Workers Paid subscription",
                "CloudflareWorkers",
                "months",
                1.0,
                self._price(self.monthly_base_usd, drivers),
            ),
            Line(
                f"Requests beyond {self.included_requests / 1e6:g}M included",
                "CloudflareWorkers",
                "1M requests",
                inference.maximum(requests - self.included_requests, 0.0) / 1e6,
                self._price(self.usd_per_million_requests, drivers),
            ),
            Line(
                f"CPU time beyond {self.included_cpu_ms / 1e6:g}M ms included",
                "CloudflareWorkers",
                "1M CPU-ms",
                inference.maximum(cpu_ms - self.included_cpu_ms, 0.0) / 1e6,
                self._price(self.usd_per_million_cpu_ms, drivers),
            ),
        ]
        return Evaluation(
            lines=lines, latency_p95_seconds=self.latency_p95_seconds * drivers.latency_factor, units=0.0
        )


def plan_cloudflare_workers(
    profile: ModelProfile, sheet: PriceSheet, a: ServingAssumptions, requests_per_day: float
) -> WorkersPlan | OptionCost:
    """Workers Paid, standard usage model; requires re-implementing the model outside torch."""
    rates = sheet.cloudflare_workers
    port = (
        "requires re-implementation: torch does not run in Workers; the model would be ported to JS/WASM "
        "(e.g. ONNX Runtime Web) and is assumed to run as fast per CPU as torch did on the benchmark host"
    )
    if not a.public:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            "an internal service cannot run on Workers: a Worker runs on Cloudflare's network, not in the VPC "
            "(Cloudflare Tunnel or Access in front of a private network is not priced)",
            caveats=(port,),
            drop_in=False,
        )
    if rates is None:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            f"price sheet {sheet.snapshot_id} has no Cloudflare Workers rates",
            caveats=(port,),
            drop_in=False,
        )
    memory_mb = profile.model_file_bytes * WORKERS_MEMORY_PER_MODEL_BYTE / (1024 * 1024)
    if memory_mb > rates.max_memory_mb:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            f"model needs ~{memory_mb:,.0f} MB, above the {rates.max_memory_mb:,.0f} MB isolate limit",
            caveats=(port,),
            drop_in=False,
        )
    # one isolate is single-threaded: it spends the CPU time the benchmark spent on all its CPUs; CPU time
    # is billed per request, so at the mean
    single_cpu_seconds = profile.billed_seconds_per_request(a.tokens_per_request) * profile.benchmark_cpus
    cpu_ms = single_cpu_seconds * 1000.0
    latency = profile.latency_p95_seconds(1, a.tokens_per_request) * profile.benchmark_cpus
    if cpu_ms > rates.max_cpu_ms_per_request:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            f"{cpu_ms:,.0f} CPU-ms per request exceeds the {rates.max_cpu_ms_per_request:,.0f} ms limit",
            caveats=(port,),
            drop_in=False,
        )
    if latency > a.latency_slo_ms / 1000.0:
        return infeasible(
            CLOUDFLARE_WORKERS,
            None,
            f"p95 latency {latency * 1000:,.0f} ms on one CPU exceeds the {a.latency_slo_ms:,.0f} ms SLO",
            caveats=(port,),
            drop_in=False,
        )
    return WorkersPlan(
        option=CLOUDFLARE_WORKERS,
        instance_type=None,
        config=f"{cpu_ms:,.0f} CPU-ms/request, ~{memory_mb:,.0f} MB",
        model_file_bytes=profile.model_file_bytes,
        support=SupportRates(),
        assumptions=a,
        caveats=(
            port,
            "the subscription fee is counted in full; egress is free on Cloudflare",
            f"prices from {rates.source_url} as of {rates.as_of.isoformat()}",
        ),
        drop_in=False,
        placement="on Cloudflare's network (either availability)",
        design_notes={
            FRONT_DOOR: "the Worker's route on Cloudflare's network (included)",
            TRANSFER: "free on Cloudflare",
        },
        details={"cpu_ms_per_request": cpu_ms, "memory_mb": memory_mb, "latency_p95_ms": latency * 1000.0},
        cpu_ms_per_request=cpu_ms,
        latency_p95_seconds=latency,
        monthly_base_usd=rates.monthly_base_usd,
        included_requests=rates.included_requests_per_month,
        usd_per_million_requests=rates.usd_per_million_requests,
        included_cpu_ms=rates.included_cpu_ms_per_month,
        usd_per_million_cpu_ms=rates.usd_per_million_cpu_ms,
    )
