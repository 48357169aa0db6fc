"""The eval's suites, one module per schema; ``SUITES`` lists them in run order."""

from __future__ import annotations

from ..cases import Suite
from .library import SUITE as LIBRARY
from .shop import SUITE as SHOP
from .team import SUITE as TEAM
from .tracker import SUITE as TRACKER

SUITES: list[Suite] = [TRACKER, LIBRARY, SHOP, TEAM]
