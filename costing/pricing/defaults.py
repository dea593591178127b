"""One place for the cost model's defaults and the facts about AWS billing it relies on.

Everything here is a plain constant so that DAGs, the report and the tests can import it without
pulling in anything heavy.
"""

from __future__ import annotations

from costing.choices import MARKET_ON_DEMAND as MARKET_ON_DEMAND  # re-exported: defined there
from costing.choices import MARKET_SPOT as MARKET_SPOT
from costing.choices import MARKETS as MARKETS
from toolkit.paths import INCLUDE_DIR

# -- what a run is priced as, unless the caller says otherwise ---------------------------------------
DEFAULT_INSTANCE_TYPE = "r6i.xlarge"  # 4 vCPU / 32 GiB: fits the LSTM plus corpus comfortably
DEFAULT_REGION = "us-east-1"
DEFAULT_MARKET = MARKET_SPOT

# the markets are defined in costing.choices (the retraining form reads them at parse time)

# -- billing rules ------------------------------------------------------------------------------------
# Linux on-demand and spot instances are billed per second with a 60-second minimum per instance launch.
MINIMUM_BILLED_SECONDS = 60
RESERVED_LEASE_YEARS = (1, 3)

# -- which price rows describe "an EC2 Linux instance" ------------------------------------------------
# The same filters are used for get_products requests and for picking rows out of a snapshot.
EC2_SERVICE_CODE = "AmazonEC2"
EC2_PRODUCT_FAMILY = "Compute Instance"
# Bare-metal types (m5.metal, c7i.metal-24xl) are filed under their own product family.
EC2_PRODUCT_FAMILIES = (EC2_PRODUCT_FAMILY, "Compute Instance (bare metal)")
EC2_OPERATING_SYSTEM = "Linux"
EC2_TENANCY = "Shared"
EC2_PRE_INSTALLED_SW = "NA"
EC2_LICENSE_MODEL = "No License required"
# EC2 lists each instance three times: "Used" (what a running instance costs), plus the unused and
# allocated capacity-reservation rows; only "Used" is an instance price.
EC2_CAPACITY_STATUS = "Used"
SPOT_PRODUCT_DESCRIPTION = "Linux/UNIX"

# -- where pricing snapshots live ---------------------------------------------------------------------
DEFAULT_SNAPSHOT_ROOT = INCLUDE_DIR / "pricing" / "snapshots"
