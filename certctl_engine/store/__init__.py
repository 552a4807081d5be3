"""Persistence: the Peewee models, opening a store, schema migrations.

Only the engine's services import from here; faces never do.
"""

from certctl_engine.store.database import Store
from certctl_engine.store.location import StoreLocation, default_data_dir, resolve_location
from certctl_engine.store.migrations import CURRENT_VERSION, UpgradeReport

__all__ = [
    "CURRENT_VERSION",
    "Store",
    "StoreLocation",
    "UpgradeReport",
    "default_data_dir",
    "resolve_location",
]
