"""The eval's suites, one module per schema; ``SUITES`` lists them in run order."""

from __future__ import annotations

from ..cases import Suite
from .tracker import SUITE as TRACKER

SUITES: list[Suite] = [TRACKER]
