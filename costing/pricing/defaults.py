"""The facts about AWS billing the cost model relies on, the price filters, and the pricing defaults.

Everything here is a plain constant. What a run is priced as unless the caller says otherwise (instance
type, region, market) and the markets are defined in :mod:`costing.choices`, which the DAG files read at
parse time; they are re-exported here for the pricing code.
"""

from __future__ import annotations

# re-exported: defined in costing.choices
from costing.choices import DEFAULT_INSTANCE_TYPE as DEFAULT_INSTANCE_TYPE
from costing.choices import DEFAULT_MARKET as DEFAULT_MARKET
from costing.choices import DEFAULT_REGION as DEFAULT_REGION
from costing.choices import MARKET_ON_DEMAND as MARKET_ON_DEMAND
from costing.choices import MARKET_SPOT as MARKET_SPOT
from costing.choices import MARKETS as MARKETS
from toolkit.paths import INCLUDE_DIR

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
