"""All telewatch dashboards, rendered to the JSON files committed under ``dashboards/json/``.

Grafana's file provisioning and ``telewatch dashboards push`` both read those
files; ``telewatch dashboards build`` writes them, and a test fails when they
are stale.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard

from dashboards.boards import alerts, complaints, metric, noc, pipeline, sms

#: Where the generated dashboards live (mounted into Grafana by docker-compose.yml).
JSON_DIR = Path(__file__).resolve().parent / "json"


def build_all(scenarios: Mapping[str, list[str]]) -> list[dashboard.Dashboard]:
    """Every dashboard, NOC overview first; ``scenarios`` is detectors.correlation.scenarios."""
    return [
        noc.build(),
        metric.build(),
        sms.build(),
        complaints.build(scenarios),
        alerts.build(),
        pipeline.build(),
    ]


#: Interval-variable settings the SDK writes on every variable; Grafana's dashboard schema has none of them.
_SDK_ONLY_VARIABLE_KEYS = ("auto", "auto_min", "auto_count")


def to_json(board: dashboard.Dashboard) -> str:
    """A dashboard as the JSON text Grafana loads (stable: keys in the SDK's order, 2-space indent)."""
    model = json.loads(json.dumps(board, cls=JSONEncoder))
    for variable in model.get("templating", {}).get("list", []):
        for key in _SDK_ONLY_VARIABLE_KEYS:
            variable.pop(key, None)
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def rendered(scenarios: Mapping[str, list[str]]) -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {f"{board.uid}.json": to_json(board) for board in build_all(scenarios)}


def write(directory: Path, scenarios: Mapping[str, list[str]]) -> list[Path]:
    """Write every dashboard's JSON into ``directory`` (removing dashboards that no longer exist)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = rendered(scenarios)
    for old in directory.glob("*.json"):
        if old.name not in files:
            old.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path, scenarios: Mapping[str, list[str]]) -> list[str]:
    """The file names in ``directory`` that differ from what the code builds (missing or extra ones too)."""
    files = rendered(scenarios)
    present = {p.name for p in directory.glob("*.json")}
    differ = [n for n, text in files.items() if n not in present or (directory / n).read_text("utf-8") != text]
    return sorted(differ + sorted(present - set(files)))
