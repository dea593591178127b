"""Commitments over their term: a reserved instance or Savings Plans term bought for a fleet, measured
against the horizon the costs are owned over.

A commitment bills every hour of its 1- or 3-year term, used or not. When the horizon
(``ServingAssumptions.horizon_months``) ends before the term does, the term still owes its remaining
months there; a term shorter than the horizon is renewed to cover it, so only the last one can be left
part-way::

    terms bought  = ceil(horizon / term)
    months owed   = terms bought x term - horizon
    owed          = months owed x the fleet's commitment a month
                  = months owed x its recurring part a month + the upfront fee's unamortised share

The commitment a month is the fleet's instance-hours (24/7) at the term's effective rate (hourly part +
upfront fee spread over the term), so the owed amount is the same whatever the payment option; the option
says how much of it was paid at purchase (:data:`~costing.model.assumptions.UPFRONT_SHARE_BY_PURCHASE_OPTION`).

Unless the commitment is used for its whole term (``commitment_use`` ``full-term``, :mod:`costing.choices`),
what it owes at the horizon is part of its cost: one cost line, the design's *commitment owed*, spreads it
over the horizon's months. The option then ranks by its cost including what is owed in the grid, the TCO,
the break-evens and the Monte Carlo alike. Either way :meth:`Commitment.at_horizon` shows what is owed and
what serving for the horizon and then leaving costs.

Example (the shipped snapshot, 2 x t3.small, 3yr/standard/No Upfront at $0.008882/h, 12-month horizon):
2 x 730 h x $0.008882 = $12.97 a month; 36 - 12 = 24 months owed = $311.23, i.e. $25.94 a month over the
12 months. A 1-year term on the same horizon owes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from costing.choices import COMMITMENT_USE_FULL_TERM, COMMITMENT_USE_HORIZON
from costing.model.assumptions import UPFRONT_SHARE_BY_PURCHASE_OPTION, ServingAssumptions
from costing.model.capacity import Number
from costing.model.drivers import Drivers, Line
from costing.model.results import CommitmentOwed
from costing.units import HOURS_PER_MONTH

COMMITMENT_OWED = "commitment owed"  # the design's part (costing.model.platforms.design.ROLES)
MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class Commitment:
    """A term bought for every instance of a fleet, and the horizon it is measured against."""

    what: str  # "reserved instances", "Compute Savings Plan", "EC2 Instance Savings Plan"
    term: str  # the sheet's key: "3yr/standard/No Upfront", "Compute/1yr/All Upfront"
    term_months: int
    purchase_option: str  # "No Upfront" | "Partial Upfront" | "All Upfront"
    usd_per_hour: float  # per instance-hour, effective: the upfront fee spread over the term
    horizon_months: float
    counted: bool  # what it owes at the horizon is part of its cost (it may be left there)

    @classmethod
    def bought(
        cls,
        what: str,
        term: str,
        *,
        lease_years: int,
        purchase_option: str,
        usd_per_hour: float,
        assumptions: ServingAssumptions,
    ) -> Commitment:
        if purchase_option not in UPFRONT_SHARE_BY_PURCHASE_OPTION:
            raise ValueError(
                f"purchase option {purchase_option!r} of {term} is not one of "
                f"{', '.join(UPFRONT_SHARE_BY_PURCHASE_OPTION)}"
            )
        return cls(
            what=what,
            term=term,
            term_months=lease_years * MONTHS_PER_YEAR,
            purchase_option=purchase_option,
            usd_per_hour=usd_per_hour,
            horizon_months=float(assumptions.horizon_months),
            counted=not assumptions.commitments_used_for_full_term,
        )

    @property
    def months_owed(self) -> float:
        """Months of the term running at the horizon that are still to run after it (0 when it ends there)."""
        terms = math.ceil(round(self.horizon_months / self.term_months, 9))
        return terms * self.term_months - self.horizon_months

    @property
    def upfront_share(self) -> float:
        return UPFRONT_SHARE_BY_PURCHASE_OPTION[self.purchase_option]

    def caveat(self) -> str:
        """In words, for the option's caveats: what it commits to, what it owes at the horizon, how it ranks."""
        term = f"{self.what} for {self.term_months} months ({self.term})"
        if self.months_owed == 0:
            return (
                f"{term}: nothing is owed at the {self.horizon_months:g}-month horizon (the term ends there)"
            )
        owed = (
            f"{self.months_owed:g} of its {self.term_months} months are still owed at the "
            f"{self.horizon_months:g}-month horizon"
        )
        if self.counted:
            return (
                f"{term}: {owed}, counted in its cost and spread over the horizon (the service may stop "
                f"then; commitment use '{COMMITMENT_USE_FULL_TERM}' if it will run for the whole term)"
            )
        return (
            f"{term}: {owed}, not counted in its cost: it will be used for its whole term "
            f"(commitment use '{COMMITMENT_USE_FULL_TERM}')"
        )

    def owed_line(self, units: Number, drivers: Drivers) -> Line | None:
        """What the term still owes at the horizon, spread over the horizon's months (``None`` when nothing
        is owed or it is not counted): ``units`` instance-hours a month for the months owed."""
        if not self.counted or self.months_owed == 0:
            return None
        return Line(
            f"Commitment still owed at the {self.horizon_months:g}-month horizon ({self.months_owed:g} of "
            f"{self.term_months} months of {self.term}), spread over the horizon",
            "AmazonEC2",
            "hours",
            units * HOURS_PER_MONTH * self.months_owed / self.horizon_months,
            self.usd_per_hour * drivers.price_factor,
            role=COMMITMENT_OWED,
            choice=f"{self.months_owed:g} of {self.term_months} months of {self.what} "
            f"after the {self.horizon_months:g}-month horizon",
        )

    def at_horizon(self, units: float, usd_per_month: float) -> CommitmentOwed:
        """The commitment of ``units`` instances at the horizon; ``usd_per_month`` is the option's monthly
        cost (with the owed line when it is counted)."""
        per_month = units * HOURS_PER_MONTH * self.usd_per_hour
        owed = self.months_owed * per_month
        counted_per_month = owed / self.horizon_months if self.counted else 0.0
        upfront = self.upfront_share * per_month * self.term_months
        return CommitmentOwed(
            what=self.what,
            term=self.term,
            term_months=self.term_months,
            horizon_months=self.horizon_months,
            purchase_option=self.purchase_option,
            usd_per_month=per_month,
            upfront_usd=upfront,
            months_owed=self.months_owed,
            owed_recurring_usd=owed * (1.0 - self.upfront_share),
            owed_upfront_usd=owed * self.upfront_share,
            cost_if_left_at_horizon_usd=(usd_per_month - counted_per_month) * self.horizon_months + owed,
            ranked_on=COMMITMENT_USE_HORIZON if self.counted else COMMITMENT_USE_FULL_TERM,
        )
