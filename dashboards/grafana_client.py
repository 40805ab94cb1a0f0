"""One Grafana, reached through the ``grafana-api`` library with a service account token.

:class:`GrafanaTarget` offers the few calls a push needs, each answering
Grafana's JSON or raising a :class:`~dashboards.grafana_errors.GrafanaError`
that says what went wrong in one line. It uses the library's helpers where it
has them and its ``api.GET/POST/PUT`` for the rest (datasources by uid, search
by folder, health).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from grafana_api.grafana_api import GrafanaException
from grafana_api.grafana_face import GrafanaFace

from dashboards.grafana_errors import (
    ADMIN_HINT,
    EDITOR_HINT,
    GrafanaError,
    Rejected,
    http_error,
    not_grafana,
    server_message,
    transport_error,
)

#: Seconds to wait for each answer.
TIMEOUT_S = 10.0
_VERSION = re.compile(r"v?(\d+)\.(\d+)")


class GrafanaTarget:
    """The Grafana at ``url`` (its root URL, any sub-path included), called with ``token``."""

    def __init__(self, url: str, token: str, *, timeout_s: float = TIMEOUT_S) -> None:
        parts = urlsplit(url.strip())
        if parts.username or parts.password:
            raise GrafanaError("--url must not hold credentials; pass the token with --token or TW_GRAFANA_TOKEN")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.query or parts.fragment:
            raise GrafanaError(f"--url must be Grafana's root URL, such as https://grafana.example.com (got {url!r})")
        token = token.strip()
        if not token:
            raise GrafanaError(f"no token for Grafana at {url}; pass --token or set TW_GRAFANA_TOKEN")
        if any(char.isspace() or not char.isprintable() for char in token):
            raise GrafanaError("the token holds spaces or control characters; copy it again from Grafana")
        prefix = parts.path.strip("/")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        #: The URL as messages show it: no trailing slash.
        self.url = f"{parts.scheme}://{parts.netloc}{('/' + prefix) if prefix else ''}"
        self._secret = token
        self._timeout_s = timeout_s
        self._face = GrafanaFace(
            token,
            host=host,
            port=port,
            url_path_prefix=f"{prefix}/" if prefix else "",
            protocol=parts.scheme,
            timeout=timeout_s,
        )

    def __repr__(self) -> str:
        return f"GrafanaTarget({self.url!r})"

    # -- version ---------------------------------------------------------------------------------

    def version(self) -> str:
        """Grafana's version text, e.g. ``11.6.0``: from ``/api/health``, else (hidden there) the frontend settings."""
        try:
            health = self._face.api.GET("/health")
        except GrafanaException as exc:
            body = exc.response
            if exc.status_code == 503 and isinstance(body, dict) and "database" in body:
                raise Rejected(f"Grafana at {self.url} is unhealthy (database: {body['database']})") from exc
            raise not_grafana(self.url, f"{exc.status_code}: {server_message(body, self._secret)}") from exc
        except requests.exceptions.JSONDecodeError as exc:
            raise not_grafana(self.url, "with something that is not JSON (an HTML page?)") from exc
        except requests.RequestException as exc:
            raise transport_error(exc, self.url, self._timeout_s) from exc
        except TypeError as exc:  # the library fails on a non-JSON error body that mentions "message"
            raise not_grafana(self.url, "an error page that is not JSON") from exc
        if not isinstance(health, dict) or "database" not in health:
            raise not_grafana(self.url, f"JSON without Grafana's fields: {server_message(str(health), self._secret)}")
        version = health.get("version")
        if not isinstance(version, str) or not version:
            settings = self._json(lambda: self._face.api.GET("/frontend/settings"), "read its version", EDITOR_HINT)
            build = settings.get("buildInfo")
            version = build.get("version") if isinstance(build, dict) else None
        if not isinstance(version, str) or not version:
            raise Rejected(f"Grafana at {self.url} does not tell its version; telewatch needs it to push")
        return version

    @staticmethod
    def version_tuple(version: str) -> tuple[int, int] | None:
        """``(major, minor)`` of a version text such as ``11.6.0`` or ``12.0.0-security-01``; None if unreadable."""
        match = _VERSION.match(version)
        return (int(match[1]), int(match[2])) if match else None

    # -- datasources (Admin) ---------------------------------------------------------------------

    def datasource(self, uid: str) -> dict[str, Any] | None:
        """The datasource with ``uid``, or None."""
        return self._optional(
            lambda: self._face.api.GET(f"/datasources/uid/{uid}"), f"read datasource {uid}", ADMIN_HINT
        )

    def create_datasource(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(
            lambda: self._face.datasource.create_datasource(body), f"create datasource {body['uid']}", ADMIN_HINT
        )

    def update_datasource(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(
            lambda: self._face.api.PUT(f"/datasources/uid/{uid}", json=body), f"update datasource {uid}", ADMIN_HINT
        )

    # -- folders (Editor) ------------------------------------------------------------------------

    def folder(self, uid: str) -> dict[str, Any] | None:
        """The folder with ``uid``, or None."""
        return self._optional(lambda: self._face.folder.get_folder(uid), f"read folder {uid}", EDITOR_HINT)

    def create_folder(self, uid: str, title: str) -> dict[str, Any]:
        return self._json(lambda: self._face.folder.create_folder(title, uid=uid), f"create folder {uid}", EDITOR_HINT)

    def update_folder(self, uid: str, title: str, version: int, *, overwrite: bool) -> dict[str, Any]:
        return self._json(
            lambda: self._face.folder.update_folder(uid, title, version=version, overwrite=overwrite),
            f"update folder {uid}",
            EDITOR_HINT,
        )

    # -- dashboards (Editor) ---------------------------------------------------------------------

    def dashboards_in_folder(self, folder_uid: str) -> list[dict[str, Any]]:
        """The search hits (``uid``, ``title``, ...) for the dashboards in the folder."""
        hits = self._guard(
            lambda: self._face.api.GET(f"/search?type=dash-db&folderUIDs={folder_uid}&limit=5000"),
            f"list the dashboards in folder {folder_uid}",
            EDITOR_HINT,
        )
        if not isinstance(hits, list) or not all(isinstance(hit, dict) for hit in hits):
            raise Rejected(f"Grafana at {self.url} answered the dashboard search with something other than a list")
        return hits

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        """``{"dashboard": ..., "meta": ...}`` for ``uid``, or None."""
        return self._optional(lambda: self._face.dashboard.get_dashboard(uid), f"read dashboard {uid}", EDITOR_HINT)

    def save_dashboard(self, body: dict[str, Any], what: str) -> dict[str, Any]:
        """``POST /api/dashboards/db`` with ``body``; ``what`` names the dashboard in errors."""
        return self._json(lambda: self._face.dashboard.update_dashboard(body), f"save {what}", EDITOR_HINT)

    # -- plumbing --------------------------------------------------------------------------------

    def _guard(self, call: Callable[[], Any], doing: str, hint: str, *, none_if_missing: bool = False) -> Any:
        """``call()``'s answer (None for a 404 if ``none_if_missing``); every failure as a one-line GrafanaError."""
        try:
            return call()
        except GrafanaException as exc:
            if none_if_missing and exc.status_code == 404:
                return None
            raise http_error(
                exc.status_code, exc.response, url=self.url, doing=doing, hint=hint, secret=self._secret
            ) from exc
        except requests.exceptions.JSONDecodeError as exc:  # before RequestException: it is one too
            raise Rejected(f"Grafana at {self.url} answered {doing!r} with something that is not JSON") from exc
        except requests.RequestException as exc:
            raise transport_error(exc, self.url, self._timeout_s) from exc

    def _json(self, call: Callable[[], Any], doing: str, hint: str) -> dict[str, Any]:
        answer = self._guard(call, doing, hint)
        if not isinstance(answer, dict):
            raise Rejected(f"Grafana at {self.url} answered {doing!r} with something other than a JSON object")
        return answer

    def _optional(self, call: Callable[[], Any], doing: str, hint: str) -> dict[str, Any] | None:
        answer = self._guard(call, doing, hint, none_if_missing=True)
        if answer is not None and not isinstance(answer, dict):
            raise Rejected(f"Grafana at {self.url} answered {doing!r} with something other than a JSON object")
        return answer
