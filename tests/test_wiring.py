"""The wiring: hot reload of the config file applies one section, refuses a bad file and keeps the running one."""

from __future__ import annotations

import os
from pathlib import Path

from telewatch.config import DEFAULT_CONFIG, Config, load_config
from telewatch.wiring import ConfigWatcher


def test_a_changed_section_is_applied_and_a_bad_file_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "telewatch.yaml"
    path.write_text(DEFAULT_CONFIG.read_text())
    applied: list[Config] = []
    watcher = ConfigWatcher(path, load_config(path), "detectors", applied.append)

    path.write_text(path.read_text() + "detectors:\n  default:\n    threshold: 6\n")
    assert watcher.reload()
    assert [c.detectors.default.threshold for c in applied] == [6.0]
    assert watcher.status() == {"config_generation": 2, "reload_error": None}

    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, "    direction: sideways", ""]))
    assert not watcher.reload()
    error = watcher.status()["reload_error"]
    assert f"telewatch.yaml:{len(lines) + 1}: detectors.default.direction" in error
    assert len(applied) == 1 and watcher.config.detectors.default.threshold == 6.0, "the running config stays"


def test_only_the_watched_section_changes(tmp_path: Path) -> None:
    path = tmp_path / "telewatch.yaml"
    path.write_text(DEFAULT_CONFIG.read_text())
    running = load_config(path)
    watcher = ConfigWatcher(path, running, "detectors", lambda new: None)
    path.write_text(path.read_text().replace("max_future_skew_s: 300", "max_future_skew_s: 30"))
    assert watcher.reload()
    assert watcher.config.validation.max_future_skew_s == 300, "other sections need a restart"


async def test_check_reloads_only_when_the_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "telewatch.yaml"
    path.write_text(DEFAULT_CONFIG.read_text())
    applied: list[Config] = []
    watcher = ConfigWatcher(path, load_config(path), "detectors", applied.append)
    await watcher.check()
    assert applied == []
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    await watcher.check()
    assert len(applied) == 1
