"""Type-check dashboard JSON against Grafana's own schema types (npm ``@grafana/schema``) with the TypeScript compiler.

Grafana publishes its dashboard schema as TypeScript types generated from its
CUE kinds. Assigning a dashboard's JSON, as an object literal, to those types
makes ``tsc`` check every field: names (excess properties are errors), types and
enum values. Each panel's ``options`` and ``fieldConfig.defaults.custom`` are
checked against its plugin's own ``Options`` / ``FieldConfig`` types too.

Two places where the dashboard type is looser or narrower than what Grafana
stores are made explicit below: panel targets are ``Record<string, unknown>``
in the schema, so they are checked against the InfluxDB plugin's query type
(transcribed from Grafana's ``public/app/plugins/datasource/influxdb/types.ts``),
and an annotation's ``target`` is typed for Grafana's built-in annotations only
(the schema says "TODO: this should be a regular DataQuery"), so an InfluxDB
annotation target is checked against the same InfluxDB query type.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

CHECK_DIR = Path(__file__).resolve().parents[1] / "dashboards" / "schema_check"
RAW = "@grafana/schema/dist/esm/raw"

#: Panel type → (module under composable/, has a FieldConfig type).
PANEL_TYPES = {
    "timeseries": ("timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", True),
    "state-timeline": ("statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen", True),
    "stat": ("stat/panelcfg/x/StatPanelCfg_types.gen", False),
    "bargauge": ("bargauge/panelcfg/x/BarGaugePanelCfg_types.gen", False),
    "table": ("table/panelcfg/x/TablePanelCfg_types.gen", True),
}

PRELUDE = f"""\
import type {{ AnnotationQuery, DataSourceRef, Dashboard }} from '{RAW}/dashboard/x/dashboard_types.gen';
import type {{ DataQuery }} from '@grafana/schema/dist/esm/common/common.gen';

/** Grafana's InfluxDB query (public/app/plugins/datasource/influxdb/types.ts, InfluxQuery). */
interface InfluxQuery extends DataQuery {{
  datasource?: DataSourceRef;
  policy?: string; measurement?: string; resultFormat?: 'time_series' | 'table' | 'logs';
  orderByTime?: string; tags?: unknown[]; groupBy?: unknown[]; select?: unknown[][];
  limit?: string | number; slimit?: string | number; tz?: string; fill?: string;
  rawQuery?: boolean; query?: string; alias?: string;
  fromAnnotations?: boolean; tagsColumn?: string; textColumn?: string; titleColumn?: string;
  adhocFilters?: unknown[]; rawSql?: string;
}}
/** JSON holds an enum's value, not the TypeScript enum: accept each enum's string values, nothing else. */
type Json<T> = T extends string ? `${{T}}` : T extends Array<infer U> ? Array<Json<U>>
  : T extends object ? {{ [K in keyof T]: Json<T[K]> }} : T;
type InfluxAnnotation = Omit<AnnotationQuery, 'target'> & {{ target?: InfluxQuery }};
type Checked = Json<Omit<Dashboard, 'annotations'> & {{ annotations?: {{ list?: InfluxAnnotation[] }} }}>;
"""


def typescript_of(name: str, board: dict[str, Any]) -> str:
    """The TypeScript module that type-checks ``board``."""
    imports: list[str] = []
    checks: list[str] = []
    panels = [p for p in board.get("panels", []) if p.get("type") != "row"]
    for row in board.get("panels", []):
        panels.extend(row.get("panels", []) if row.get("type") == "row" else [])
    used: set[str] = set()
    for i, panel in enumerate(panels):
        kind = panel.get("type")
        if kind not in PANEL_TYPES:
            raise ValueError(f"{name}: panel {panel.get('title')!r} has type {kind!r}, not checked here: add it")
        module, has_field_config = PANEL_TYPES[kind]
        alias = re.sub(r"\W", "_", kind)
        if alias not in used:
            imports.append(f"import type * as {alias} from '{RAW}/composable/{module}';")
            used.add(alias)
        checks.append(f"export const panel{i}_options: Json<{alias}.Options> = {json.dumps(panel.get('options', {}))};")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None:
            if not has_field_config:
                raise ValueError(f"{name}: panel {panel.get('title')!r} sets custom field config its type has none of")
            checks.append(f"export const panel{i}_custom: Json<{alias}.FieldConfig> = {json.dumps(custom)};")
        checks.append(f"export const panel{i}_targets: InfluxQuery[] = {json.dumps(panel.get('targets', []))};")
    body = f"export const dashboard: Checked = {json.dumps(board, indent=1)};"
    return "\n".join([PRELUDE, *imports, body, *checks, ""])


def install() -> None:
    """Install the pinned TypeScript and @grafana/schema (package-lock.json) if they are missing."""
    if not (CHECK_DIR / "node_modules" / "typescript").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=CHECK_DIR, check=True, capture_output=True, timeout=300
        )


def check(boards: dict[str, dict[str, Any]], workdir: Path) -> str:
    """Type-check the dashboards (file name → JSON); returns tsc's complaints ('' when they all pass)."""
    install()
    files = []
    for name, board in boards.items():
        path = workdir / (Path(name).stem.replace("-", "_") + ".ts")
        path.write_text(typescript_of(name, board), encoding="utf-8")
        files.append(str(path))
    options = {
        "strict": True, "noEmit": True, "target": "es2020", "moduleResolution": "node", "skipLibCheck": True,
        "types": [], "baseUrl": str(CHECK_DIR / "node_modules"),
    }  # fmt: skip
    config = workdir / "tsconfig.json"
    config.write_text(json.dumps({"compilerOptions": options, "files": files}), encoding="utf-8")
    tsc = CHECK_DIR / "node_modules" / ".bin" / "tsc"
    result = subprocess.run(
        [str(tsc), "-p", str(config)], capture_output=True, text=True, timeout=300, check=False
    )  # fmt: skip
    return (result.stdout + result.stderr).strip() if result.returncode else ""
