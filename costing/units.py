"""Time, byte and money units, defined once for the whole of ``costing`` (and ``pipeline``, which imports them).

AWS prices monthly quantities over 730 hours (365 days x 24 h / 12 months), reserved terms over
8,760-hour years, and meters data (transfer, logs, S3, EBS) and Lambda memory in binary units:
1 GB = 2**30 bytes, 1 GB of Lambda memory = 1,024 MB.
"""

from __future__ import annotations

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86_400.0
HOURS_PER_MONTH = 730.0
HOURS_PER_YEAR = 8760.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0  # 30.4167
DAYS_PER_YEAR = 365.0
WEEKS_PER_YEAR = 52.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * SECONDS_PER_HOUR  # 2,628,000

BYTES_PER_MB = float(2**20)
BYTES_PER_GB = float(2**30)
MB_PER_GB = 1024.0

MICRO_USD_PER_USD = 1_000_000.0  # cost.*_micro_usd metrics: readable where MLflow's charts round to 0.01
