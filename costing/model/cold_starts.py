"""Cold starts of the per-request platforms (Lambda, SageMaker serverless): how many requests start cold,
what that does to the p95, and the fix when it misses the SLO.

**Share of requests that start cold.** After a request the platform keeps its execution environment for
``idle_seconds`` (:class:`~costing.model.assumptions.KeepWarm`, a dated assumption: AWS publishes none);
a request that arrives after a longer gap finds none and starts one. Requests arrive as a Poisson process
at the daily mean rate λ = requests/day / 86,400 s, so the gap before a request is exponential and, for
one warm environment,

    P(cold) = P(gap > idle) = exp(-λ × idle)

With a 10-minute idle time: 100/day, λ = 0.0011574/s, exp(-0.69444) = 0.49935 (half the requests start
cold); 10,000/day, exp(-69.444) = 7.6e-31; 1,000,000/day, 0. Left out (named in every priced option):
new environments started when concurrency grows (scale-out, a handful a day as traffic climbs to its
peak), and quieter hours than the daily mean, which start colder than the mean rate says.

**Latency with cold starts.** A warm request's latency W is lognormal through the measured p50 and p95 at
the configured memory's CPU share: ln W ~ N(ln p50, σ), σ = ln(p95 / p50) / z₀.₉₅ (z₀.₉₅ = 1.6449). A cold
request takes W + C, where C = the platform's own start (assumed) + what a cold start adds to our handler
(measured: spawn to answer minus a warm request, ``metrics.json`` ``cold_start``; else a labelled
default). The p95 of all requests, share s of them cold, is the x that solves

    (1 - s) F(x) + s F(x - C) = 0.95,     F the lognormal CDF of W,

found by bisection between the warm p95 and C + the warm p95 (the root lies there for any s in [0, 1]).
So with s > 5 % and C well above the warm spread, the p95 is a cold request's: C + F⁻¹(1 - 0.05 / s)
(s = 10 %: C + the warm median); with s well under 5 %, it is a warm quantile: F⁻¹(0.95 / (1 - s)).

**The fix** when the p95 misses the SLO (:func:`costing.model.platforms.serverless.plan_serverless` prices
each and keeps the cheapest that meets the SLO; none: the option is infeasible):

* a keep-warm ping (:data:`KEEP_WARM_PING`): an EventBridge schedule invokes the function (SageMaker: a
  small function that invokes the endpoint) every ``KEEP_WARM_PING_MINUTES``, below the idle time, so the
  environment never idles out: no idle-gap cold starts. It costs the schedule's invocations, the pings'
  requests and their billed duration;
* provisioned concurrency (:data:`PROVISIONED_CONCURRENCY`): enough environments kept initialised 24/7
  for the peak concurrency (at least one), billed per GB-second, the requests they serve at the
  provisioned duration rate: no cold starts.

Every function takes floats or numpy arrays (the Monte Carlo evaluates arrays of samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from costing.model.assumptions import (
    DEFAULT_COLD_START_ADDED_SECONDS,
    DEFAULT_COLD_START_SOURCE,
    KEEP_WARM_PING_MINUTES,
    KeepWarm,
)
from costing.model.capacity import Number
from costing.model.profile import ModelProfile
from costing.units import SECONDS_PER_DAY, SECONDS_PER_MONTH

P95 = 0.95
Z95 = 1.6448536269514722  # the standard normal's 95th percentile
BISECTION_STEPS = 50  # halves the bracket (C wide, seconds) to below 1e-15 of it: exact to float64's noise
NEGLIGIBLE_SHARE = 1e-12  # a cold share below this moves the p95 by less than 1e-11 of it

NO_FIX = ""
KEEP_WARM_PING = "keep-warm ping"
PROVISIONED_CONCURRENCY = "provisioned concurrency"


def cold_share(requests_per_day: Number, idle_seconds: float) -> Number:
    """Share of requests that find no warm environment: exp(-λ × idle), λ the daily mean rate per second.

    Example: 100/day, idle 600 s -> exp(-0.69444) = 0.49935.
    """
    import numpy as np

    rate = requests_per_day / SECONDS_PER_DAY
    if isinstance(rate, np.ndarray):
        return np.exp(-rate * idle_seconds)
    return math.exp(-rate * idle_seconds)


def _norm_cdf(z: Any) -> Any:
    """The standard normal CDF of an array, from erfc (Numerical Recipes' Chebyshev fit, relative error
    < 1.2e-7 everywhere; numpy has no erf and scipy is not a dependency)."""
    import numpy as np

    x = -np.asarray(z, dtype=float) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * np.abs(x))
    poly = (
        -x * x
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    erfc = t * np.exp(poly)
    return 0.5 * np.where(x >= 0, erfc, 2.0 - erfc)


def _warm_cdf(x: Any, mu: Any, sigma: Any) -> Any:
    """P(W <= x) for ln W ~ N(mu, sigma); 0 for x <= 0."""
    import numpy as np

    positive = np.maximum(x, 1e-300)
    return np.where(x > 0, _norm_cdf((np.log(positive) - mu) / sigma), 0.0)


def p95_with_cold_starts(
    warm_p50_seconds: Number, warm_p95_seconds: Number, added_seconds: Number, share: Number
) -> Number:
    """The p95 latency of all requests when ``share`` of them start cold and a cold start adds
    ``added_seconds`` (see the module docstring): the root of (1 - s) F(x) + s F(x - C) = 0.95.

    A share below :data:`NEGLIGIBLE_SHARE` moves it by less than 1e-11 of the warm p95: that is returned.
    """
    import numpy as np

    values = (warm_p50_seconds, warm_p95_seconds, added_seconds, share)
    if not any(isinstance(v, np.ndarray) for v in values):
        return _p95_scalar(*(float(v) for v in values))
    p50, p95, added, s = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values))
    result = p95.copy()
    active = s >= NEGLIGIBLE_SHARE  # only where cold starts move it (none once fixed, none at high volume)
    if not active.any():
        return result
    p50, p95, added, s = p50[active], p95[active], added[active], s[active]
    mu = np.log(p50)
    # p95 == p50 (no spread measured): a tiny sigma keeps the warm distribution a near point mass
    sigma = np.maximum(np.log(p95 / p50) / Z95, 1e-9)
    low, high = p95.copy(), added + p95  # G(low) <= 0.95 <= G(high) for any share in [0, 1]
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        below = (1.0 - s) * _warm_cdf(middle, mu, sigma) + s * _warm_cdf(middle - added, mu, sigma) < P95
        low = np.where(below, middle, low)
        high = np.where(below, high, middle)
    result[active] = 0.5 * (low + high)
    return result


def _p95_scalar(p50: float, p95: float, added: float, share: float) -> float:
    """:func:`p95_with_cold_starts` for one set of floats (the planner, the grid): math, not numpy."""
    if share < NEGLIGIBLE_SHARE:
        return p95
    mu, sigma = math.log(p50), max(math.log(p95 / p50) / Z95, 1e-9)

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-(math.log(x) - mu) / (sigma * math.sqrt(2.0))) if x > 0 else 0.0

    low, high = p95, added + p95
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if (1.0 - share) * cdf(middle) + share * cdf(middle - added) < P95:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@dataclass(frozen=True)
class ColdStart:
    """A per-request option's cold starts: the platform's keep-warm behaviour, what a cold start adds to
    our handler, and the fix chosen (if any)."""

    keep_warm: KeepWarm
    handler_added_seconds: float  # measured (metrics.json cold_start), else the default
    basis: str  # where handler_added_seconds comes from, in words
    fix: str = NO_FIX
    provisioned_environments: int = 0  # with provisioned concurrency
    ping_minutes: float = KEEP_WARM_PING_MINUTES

    def share(self, requests_per_day: Number) -> Number:
        """Share of requests that start cold: none once fixed, else the idle-gap model."""
        if self.fix:
            return 0.0 * requests_per_day
        return cold_share(requests_per_day, self.keep_warm.idle_seconds)

    def added_seconds(self, latency_factor: Number = 1.0) -> Number:
        """What a cold start adds to a request: the platform's start + our handler's (x the latency factor)."""
        return self.keep_warm.platform_init_seconds + self.handler_added_seconds * latency_factor

    @property
    def pings_per_month(self) -> float:
        return SECONDS_PER_MONTH / (self.ping_minutes * 60.0)

    def fixed(self, fix: str, *, environments: int = 0) -> ColdStart:
        return replace(self, fix=fix, provisioned_environments=environments)

    @property
    def fix_label(self) -> str:
        if self.fix == KEEP_WARM_PING:
            return f"keep-warm ping every {self.ping_minutes:g} min"
        if self.fix == PROVISIONED_CONCURRENCY:
            return f"provisioned concurrency {self.provisioned_environments}"
        return ""


def handler_cold_start(profile: ModelProfile) -> tuple[float, str]:
    """What a cold start adds to our handler, and its basis: measured when metrics.json has it, else the
    labelled default (:data:`~costing.model.assumptions.DEFAULT_COLD_START_ADDED_SECONDS`)."""
    measured = profile.cold_start
    if measured is not None:
        return measured.handler_added_seconds, (
            f"measured: a fresh handler process answers in {measured.handler_spawn_to_answer_seconds:.2f} s, "
            f"{measured.handler_added_seconds:.2f} s more than a warm request (median of {measured.runs} on "
            f"{measured.cpu_count} CPUs, {measured.measured_at[:10] or 'date unknown'})"
        )
    return DEFAULT_COLD_START_ADDED_SECONDS, (
        f"DEFAULT {DEFAULT_COLD_START_ADDED_SECONDS:g} s, not measured for this model: {DEFAULT_COLD_START_SOURCE}"
    )


def summary(details: dict[str, Any]) -> str:
    """An option's ``details["cold_start"]`` in one line (the text table, the report)."""
    share, unfixed = details["share_without_fix"], details["p95_ms_without_fix"]
    text = (
        f"cold starts: {share:.1%} of requests (idle > {details['idle_minutes']:g} min), +{details['added_seconds']:.2f} s "
        f"each; p95 {unfixed:,.0f} ms"
    )
    if not details["fix"]:
        return text + f" meets the {details['slo_ms']:,.0f} ms SLO"
    delta = details["fix_usd_per_month"]
    return text + (
        f" misses the {details['slo_ms']:,.0f} ms SLO -> {details['fix']} "
        f"({'+' if delta >= 0 else '-'}${abs(delta):,.2f}/month net): p95 {details['p95_ms']:,.0f} ms"
    )
