"""Reading labelled series: ``timestamp,value,label`` CSV, one series per file or told apart by a ``series`` column."""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import numpy as np

from telewatch.backtest.point_adjust import BoolArray, FloatArray
from telewatch.backtest.recorded_points import PointsFormatError, parse_time

_TIME_COLUMNS: Final = ("timestamp", "time", "window_start")
_NEEDED: Final = "a labelled CSV needs the columns timestamp,value,label (and optionally series)"


class LabelledFormatError(PointsFormatError):
    """A labelled CSV that cannot be read; the message names the file, line, problem and fix."""


@dataclass(frozen=True)
class LabelledSeries:
    """One labelled series, in timestamp order."""

    name: str
    source: str
    ts: FloatArray
    value: FloatArray
    label: BoolArray


def input_files(paths: Iterable[Path]) -> list[Path]:
    """The files given: files as they are, directories as the CSV files in them (sorted)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and _is_csv(p))
            if not found:
                raise LabelledFormatError(f"{path}: a directory without CSV files (*.csv, *.csv.gz)")
            out += found
        elif not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        else:
            out.append(path)
    return out


def is_labelled(path: Path) -> bool:
    """Whether ``path`` is a CSV file whose header has a ``label`` column."""
    if not _is_csv(path):
        return False
    for _, cells in _rows(path):
        return "label" in (c.strip().lower() for c in cells)
    return False


def read_labelled(paths: Sequence[Path]) -> list[LabelledSeries]:
    """The series of labelled CSV files, by name; a series name may be used by one file only."""
    found: dict[str, LabelledSeries] = {}
    for path in paths:
        for series in read_labelled_csv(path):
            if series.name in found:
                raise LabelledFormatError(
                    f"{path}: series {series.name!r} is also in {found[series.name].source}; rename one file "
                    "or give its series column other names"
                )
            found[series.name] = series
    return [found[name] for name in sorted(found)]


def read_labelled_csv(path: Path) -> list[LabelledSeries]:
    """The series of one labelled CSV file (errors name the line and the fix)."""
    rows: dict[str, dict[float, tuple[float, bool, int]]] = {}
    stem = path.name.removesuffix(".gz").removesuffix(".GZ")
    stem = stem[:-4] if stem.lower().endswith(".csv") else stem
    header: list[str] | None = None
    for number, cells in _rows(path):
        if header is None:
            header = [c.strip().lower() for c in cells]
            _check_header(header, path, number)
            continue
        where = f"{path}:{number}"
        if len(cells) != len(header):
            raise LabelledFormatError(
                f"{where}: {len(cells)} cells where the header has {len(header)}; {_NEEDED}, one point per line"
            )
        record = dict(zip(header, cells, strict=True))
        name = record["series"].strip() if "series" in record else stem
        if not name:
            raise LabelledFormatError(f"{where}: empty series; name the series or remove the series column")
        when = next(record[c] for c in _TIME_COLUMNS if c in record).strip()
        try:
            ts = parse_time(when, where)
        except PointsFormatError as exc:
            raise LabelledFormatError(f"{exc}; write epoch seconds or an RFC 3339 time with a zone") from None
        points = rows.setdefault(name, {})
        if ts in points:
            raise LabelledFormatError(
                f"{where}: timestamp {when} of series {name!r} is also on line {points[ts][2]}; keep one of them"
            )
        points[ts] = (_value(record["value"], where), _label(record["label"], where), number)
    if header is None:
        raise LabelledFormatError(f"{path}:1: no header line; {_NEEDED}")
    if not rows:
        raise LabelledFormatError(f"{path}: a header but no points; add lines of timestamp,value,label")
    out = []
    for name, points in sorted(rows.items()):
        order = sorted(points)
        out.append(
            LabelledSeries(
                name=name,
                source=str(path),
                ts=np.asarray(order, dtype=np.float64),
                value=np.asarray([points[t][0] for t in order], dtype=np.float64),
                label=np.asarray([points[t][1] for t in order], dtype=np.bool_),
            )
        )
    return out


def _check_header(header: list[str], path: Path, number: int) -> None:
    missing = [] if any(c in header for c in _TIME_COLUMNS) else ["timestamp"]
    missing += [c for c in ("value", "label") if c not in header]
    if missing:
        raise LabelledFormatError(
            f"{path}:{number}: the header has no {', '.join(missing)} column; {_NEEDED}; it has: {', '.join(header)}"
        )


def _value(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LabelledFormatError(
            f"{where}: value {text.strip()!r} is not a number; correct it or delete the line"
        ) from None
    if not math.isfinite(value):
        raise LabelledFormatError(f"{where}: value {text.strip()!r} is not a finite number; delete the line")
    return value


def _label(text: str, where: str) -> bool:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if number not in (0.0, 1.0):
        raise LabelledFormatError(
            f"{where}: label {text.strip()!r} is not 0 or 1; write 1 inside a labelled anomaly, 0 elsewhere"
        )
    return number == 1.0


def _is_csv(path: Path) -> bool:
    return path.name.lower().removesuffix(".gz").endswith(".csv")


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Line numbers and cells of a CSV file's non-blank rows (``#`` comment lines skipped)."""
    try:
        with _open(path) as stream:
            for number, cells in enumerate(csv.reader(stream), 1):
                if cells and any(c.strip() for c in cells) and not cells[0].startswith("#"):
                    yield number, cells
    except (csv.Error, UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise LabelledFormatError(f"{path}: not a readable UTF-8 CSV file ({exc}); export it again as CSV") from None


def _open(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")
