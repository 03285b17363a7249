"""The embedded reference OMS: inventory, orders replicas and store nodes, reached only by URL.

It never imports the peakops suite, and the suite never imports it.
"""

from .catalog import CatalogSpec, is_store_location, location_ids, seed_stock, sku_ids, store_ids
from .inventory_app import InventorySettings, create_inventory_app
from .orders_app import OrdersSettings, create_orders_app
from .store_app import StoreSettings, create_store_app

__all__ = [
    "CatalogSpec",
    "InventorySettings",
    "OrdersSettings",
    "StoreSettings",
    "create_inventory_app",
    "create_orders_app",
    "create_store_app",
    "is_store_location",
    "location_ids",
    "seed_stock",
    "sku_ids",
    "store_ids",
]
