"""The six telewatch dashboards, one module each; :mod:`dashboards.catalog` lists them."""
