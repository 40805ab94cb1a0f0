"""The dashboards as code: the committed JSON is what the code builds, it passes Grafana's own schema types,
and every query names only the variables, measurements and fields telewatch defines."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_schema import check

from core import influx_schema
from dashboards import catalog
from dashboards.navigation import FOLDER_UID, TAG
from dashboards.query_check import Scope, interpolate, panels_of, variables_of
from detectors.settings import DEFAULT_SCENARIO_METRICS

BOARDS = {p.name: json.loads(p.read_text("utf-8")) for p in sorted(catalog.JSON_DIR.glob("*.json"))}
MEASUREMENTS = {
    v for k, v in vars(influx_schema).items() if k.isupper() and isinstance(v, str) and v.startswith("telewatch_")
}


def queries(board: dict[str, Any]) -> list[str]:
    found = [t["query"] for p in panels_of(board) for t in p.get("targets", [])]
    found += [a["target"]["query"] for a in board.get("annotations", {}).get("list", []) if a.get("target")]
    found += [v["query"] for v in board.get("templating", {}).get("list", []) if v.get("type") == "query"]
    return found


def test_the_committed_json_is_what_the_code_builds() -> None:
    stale = catalog.stale(catalog.JSON_DIR, DEFAULT_SCENARIO_METRICS)
    assert not stale, f"dashboards/json is stale ({stale}): run `telewatch dashboards build` and commit the result"


def test_a_changed_dashboard_is_reported_stale(tmp_path: Path) -> None:
    catalog.write(tmp_path, DEFAULT_SCENARIO_METRICS)
    assert catalog.stale(tmp_path, DEFAULT_SCENARIO_METRICS) == []
    noc = tmp_path / "telewatch-noc.json"
    noc.write_text(noc.read_text().replace("NOC overview", "NOC"), "utf-8")
    (tmp_path / "old.json").write_text("{}", "utf-8")
    assert catalog.stale(tmp_path, DEFAULT_SCENARIO_METRICS) == ["old.json", "telewatch-noc.json"]


def test_six_dashboards_linked_to_each_other() -> None:
    assert set(BOARDS) == {
        f"telewatch-{n}.json" for n in ("noc", "metric", "sms", "complaints", "alerting", "pipeline")
    }
    for name, board in BOARDS.items():
        assert board["uid"] == name.removesuffix(".json") and TAG in board["tags"]
        [menu] = board["links"]
        assert menu["type"] == "dashboards" and menu["tags"] == [TAG] and menu["includeVars"] and menu["keepTime"]
    # The overview's grids open the drill-down on the clicked series.
    noc = BOARDS["telewatch-noc.json"]
    noc_links = [
        link["url"] for p in panels_of(noc) for link in p.get("fieldConfig", {}).get("defaults", {}).get("links", [])
    ]
    assert noc_links and all(
        u.startswith("/d/telewatch-metric/?var-metric=${__field.labels.metric}") for u in noc_links
    )
    assert FOLDER_UID == "telewatch"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_queries_use_only_defined_variables_measurements_and_the_datasource(name: str) -> None:
    board = BOARDS[name]
    defined = {v.name for v in variables_of(board)} | {"timeFilter", "__interval"}
    for query in queries(board):
        used = set(re.findall(r"\$(\w+)", query)) - {"col"}
        assert used <= defined, f"{query}: undefined {used - defined}"
        for measurement in re.findall(r'FROM "(\w+)"', query):
            assert measurement in MEASUREMENTS, f"{query}: {measurement} is not in core/influx_schema.py"
    for panel in panels_of(board):
        assert panel["datasource"] == {"type": "influxdb", "uid": "telewatch-influxdb"}, panel["title"]
        assert panel["targets"] and panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["rawQuery"] is True and "$timeFilter" in target["query"], (panel["title"], target)


def test_variables_are_interpolated_as_grafana_does() -> None:
    board = BOARDS["telewatch-metric.json"]
    variables = variables_of(board)
    text = '"metric" = \'$metric\' AND "region" =~ /^$region$/ AND "series" = \'$series\' AND $timeFilter GROUP BY time($__interval)'
    scope = Scope({"metric": ["call_drop_rate"], "region": ["north", "a.b"], "series": ["x|region=north"]})
    assert interpolate(text, variables, scope, "time > 0", "1m") == (
        '"metric" = \'call_drop_rate\' AND "region" =~ /^(north|a\\.b)$/ AND "series" = \'x|region=north\' '
        "AND time > 0 GROUP BY time(1m)"
    )
    assert "=~ /^.*$/" in interpolate('"region" =~ /^$region$/', variables, Scope({"region": None}), "", "")


def test_every_dashboard_passes_grafanas_schema_types(tmp_path: Path) -> None:
    assert check(BOARDS, tmp_path) == ""


def test_the_schema_check_rejects_what_grafana_would_not_load(tmp_path: Path) -> None:
    board = copy.deepcopy(BOARDS["telewatch-noc.json"])
    board["refresh_every"] = "30s"  # not a dashboard field
    board["panels"][1]["options"]["colorMode"] = "rainbow"  # not a BigValueColorMode
    board["panels"][1]["targets"][0]["rawQuery"] = "yes"  # not a boolean
    complaints = check({"broken.json": board}, tmp_path)
    assert "'\"refresh_every\"' does not exist" in complaints, complaints
    assert 'Type \'"rainbow"\' is not assignable to type \'"value" | "none" | "background"' in complaints, complaints
    assert "Type 'string' is not assignable to type 'boolean" in complaints, complaints
    assert complaints.count("error TS") == 3, complaints
