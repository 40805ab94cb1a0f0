"""The dashboard JSON files a push sends: read, checked, one Grafana dashboard model each."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dashboards.catalog import JSON_DIR

#: Where telewatch's dashboards are written: ``dashboards/json/*.json``.
DASHBOARDS_DIR = JSON_DIR
#: Grafana's rule for a uid: at most 40 letters, digits, ``-`` and ``_``.
_UID = re.compile(r"[A-Za-z0-9_-]{1,40}")


class DashboardFileError(Exception):
    """A dashboard file that cannot be pushed; ``str()`` names the file and what is wrong."""


def load_dashboards(directory: Path) -> list[dict[str, Any]]:
    """The dashboard models in ``directory/*.json``, by file name; each with a valid, unique ``uid`` and ``title``."""
    if not directory.is_dir():
        raise DashboardFileError(f"{directory}: no such directory; generate the dashboards or pass --dashboards-dir")
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise DashboardFileError(f"{directory}: no *.json dashboard files in it")
    models: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for path in paths:
        model = _read(path)
        for key in (f"uid:{model['uid']}", f"title:{model['title']}"):
            if key in seen:
                name, value = key.split(":", 1)
                raise DashboardFileError(f"{path}: {name} {value!r} is already used by {seen[key].name}")
            seen[key] = path
        models.append(model)
    return models


def _read(path: Path) -> dict[str, Any]:
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DashboardFileError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DashboardFileError(f"{path}: cannot read it: {exc}") from exc
    if not isinstance(model, dict):
        raise DashboardFileError(f"{path}: a dashboard is a JSON object, not a {type(model).__name__}")
    if "uid" not in model and isinstance(model.get("dashboard"), dict):
        raise DashboardFileError(
            f"{path}: holds an API answer ({{'dashboard': ..., 'meta': ...}}); save the dashboard model alone"
        )
    uid, title = model.get("uid"), model.get("title")
    if not isinstance(uid, str) or not _UID.fullmatch(uid):
        raise DashboardFileError(f"{path}: 'uid' must be 1 to 40 letters, digits, '-' or '_' (got {uid!r})")
    if not isinstance(title, str) or not title.strip():
        raise DashboardFileError(f"{path}: 'title' must be a non-empty string (got {title!r})")
    panels = model.get("panels", [])
    if not isinstance(panels, list):
        raise DashboardFileError(f"{path}: 'panels' must be a list (got {type(panels).__name__})")
    return model
