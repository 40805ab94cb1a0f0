"""The InfluxDB (InfluxQL) datasource the dashboards query, as Grafana's datasource API wants it.

telewatch manages the fields below; whatever else an operator set in Grafana
(extra ``jsonData`` keys, ``isDefault``, basic auth) is kept on update.
Grafana never returns a stored password, so a password counts as a difference
only when Grafana holds none yet, or when forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The datasource's name and uid; the dashboards' panels refer to this uid.
DATASOURCE_UID = "telewatch-influxdb"
DEFAULT_INFLUXDB_URL = "http://localhost:8086"
DEFAULT_INFLUXDB_DATABASE = "telewatch"
#: Fields of an existing datasource sent back unchanged on update (a PUT replaces the whole datasource).
_KEPT_ON_UPDATE = ("user", "database", "basicAuth", "basicAuthUser", "withCredentials", "isDefault", "version")


@dataclass(frozen=True)
class InfluxDatasource:
    """Where Grafana reaches InfluxDB: ``url`` as seen from Grafana's server, the database, optional credentials."""

    url: str = DEFAULT_INFLUXDB_URL
    database: str = DEFAULT_INFLUXDB_DATABASE
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def json_data(self) -> dict[str, Any]:
        return {"dbName": self.database, "httpMode": "POST"}

    def create_body(self) -> dict[str, Any]:
        """The body of ``POST /api/datasources``."""
        body: dict[str, Any] = {
            "name": DATASOURCE_UID,
            "uid": DATASOURCE_UID,
            "type": "influxdb",
            "access": "proxy",
            "url": self.url,
            "jsonData": self.json_data(),
        }
        if self.user is not None:
            body["user"] = self.user
        if self.password is not None:
            body["secureJsonData"] = {"password": self.password}
        return body

    def differences(self, existing: dict[str, Any], *, force: bool = False) -> list[str]:
        """The managed fields where ``existing`` (Grafana's answer) differs, e.g. ``["url", "jsonData.dbName"]``."""
        wanted = self.create_body()
        found = [key for key in ("name", "type", "access", "url") if existing.get(key) != wanted[key]]
        json_data = existing.get("jsonData") or {}
        found += [f"jsonData.{key}" for key, value in self.json_data().items() if json_data.get(key) != value]
        if self.user is not None and (existing.get("user") or "") != self.user:
            found.append("user")
        stored = (existing.get("secureJsonFields") or {}).get("password", False)
        if self.password is not None and (force or not stored):
            found.append("password")
        return found

    def update_body(self, existing: dict[str, Any]) -> dict[str, Any]:
        """The body of ``PUT /api/datasources/uid/:uid``: ``existing``'s other settings kept, ours applied."""
        body = {key: existing[key] for key in _KEPT_ON_UPDATE if key in existing}
        body |= self.create_body()
        body["jsonData"] = {**(existing.get("jsonData") or {}), **self.json_data()}
        return body
