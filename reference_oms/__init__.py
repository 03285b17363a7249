"""The embedded reference OMS: an inventory service and orders replicas, reached only by URL.

It never imports the peakops suite, and the suite never imports it.
"""

from .catalog import CatalogSpec, location_ids, seed_stock, sku_ids
from .inventory_app import InventorySettings, create_inventory_app
from .orders_app import OrdersSettings, create_orders_app

__all__ = [
    "CatalogSpec",
    "InventorySettings",
    "OrdersSettings",
    "create_inventory_app",
    "create_orders_app",
    "location_ids",
    "seed_stock",
    "sku_ids",
]
