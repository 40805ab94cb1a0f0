"""Grafana dashboards as code (grafana-foundation-sdk), their checks, renderings, and the push to a Grafana."""
