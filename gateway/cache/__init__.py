"""The plan cache: exact and template plans in the store, Redis or memory, and their review lifecycle.

Modules: ``entry`` (the typed entry), ``keys`` (what an entry is keyed by), ``templates``
(slots and binding), ``fingerprints`` (SDL dependencies), ``backend`` + ``store`` / ``redis`` /
``memory`` (where entries live), ``similar`` (worked examples by similarity), ``lockfile``
(frozen plans), ``plan_cache`` (``PlanCache``, the one class the gateway, CLI and admin API use).
"""

from .entry import CacheEntry, Slot
from .plan_cache import CacheHit, PlanCache

__all__ = ["CacheEntry", "CacheHit", "PlanCache", "Slot"]
