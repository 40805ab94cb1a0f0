"""Builds every worker from the root config, and owns hot reload of the config file.

Each stage takes only its own section (and the :class:`~core.settings.Platform`
part that reaches the servers); this is the one place that knows which
sections feed which worker, and which of them apply without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config_loader import ConfigError
from detectors.worker import APP_ID as DETECTORS_APP_ID
from detectors.worker import DetectorsWorker
from streams.worker import APP_ID as STREAMS_APP_ID
from streams.worker import StreamsWorker
from telewatch.config import Config, load_config

log = logging.getLogger(__name__)

#: Seconds between two looks at the config file's modification time.
WATCH_EVERY_S = 2.0


def streams_worker(
    config: Config, *, app_id: str = STREAMS_APP_ID, status_file: Path | None = None, status_every_s: float = 1.0
) -> StreamsWorker:
    """The streams worker of ``config``."""
    return StreamsWorker(
        config, config.streams, config.validation, app_id=app_id, status_file=status_file, status_every_s=status_every_s
    )


def detectors_worker(
    config: Config,
    config_path: Path | None = None,
    *,
    app_id: str = DETECTORS_APP_ID,
    status_file: Path | None = None,
    status_every_s: float = 1.0,
) -> DetectorsWorker:
    """The detectors worker of ``config``; when ``config_path`` is given its ``detectors:`` section reloads live."""
    worker = DetectorsWorker(
        config, config.detectors, config.streams.metrics, app_id=app_id, status_file=status_file,
        status_every_s=status_every_s,
    )  # fmt: skip
    if config_path is not None:
        watcher = ConfigWatcher(config_path, config, "detectors", lambda new: worker.reconfigure(new.detectors))
        worker.app.timer(WATCH_EVERY_S)(watcher.check)
        worker.shell.add_status(watcher.status)
    return worker


class ConfigWatcher:
    """Applies one section of a changed config file; a file that does not load is refused and the running one stays.

    A change in another section is logged as needing a restart.
    """

    def __init__(self, path: Path, config: Config, section: str, apply: Callable[[Config], None]) -> None:
        self.path = path
        self.config = config
        self.section = section
        self.apply = apply
        self.generation = 1
        self.reload_error: str | None = None
        self._mtime = _mtime(path)

    async def check(self) -> None:
        """Reload when the file's modification time changed."""
        mtime = _mtime(self.path)
        if mtime != self._mtime:
            self._mtime = mtime
            self.reload()

    def reload(self) -> bool:
        """Load the file and apply its section; on any error keep the running one. Returns success."""
        try:
            new = load_config(self.path)
        except (ConfigError, OSError) as exc:
            self.reload_error = str(exc) if isinstance(exc, ConfigError) else f"{self.path}: {exc.strerror}"
            log.error("configuration not reloaded, the running one stays: %s", self.reload_error)
            return False
        return self._take(new)

    def _take(self, new: Config) -> bool:
        others = [name for name in Config.model_fields if name != self.section and getattr(new, name) != getattr(self.config, name)]  # fmt: skip
        if others:
            log.warning(
                "%s: only the %s section is reloaded; restart for: %s", self.path, self.section, ", ".join(others)
            )
        self.config = self.config.model_copy(update={self.section: getattr(new, self.section)})
        self.apply(self.config)
        self.generation += 1
        self.reload_error = None
        log.info("%s: %s configuration reloaded (generation %d)", self.path, self.section, self.generation)
        return True

    def status(self) -> dict[str, Any]:
        """The status fields of the watcher."""
        return {"config_generation": self.generation, "reload_error": self.reload_error}


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
