"""The benchmark data: synthetic data sets generated once per scale and cached under ``benchmarks/.cache/``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from benchmarks.registry import DataSpec

__all__ = ["CACHE", "SCALES", "ensure", "parse_scale"]

CACHE = Path(__file__).resolve().parent / ".cache"
SCALES = {"100k": 100_000, "1m": 1_000_000}
CACHE_VERSION = 1  # bump when the generator's output changes, to regenerate caches


def parse_scale(scale: str) -> int:
    """``100k`` -> 100000, ``1m`` -> 1000000, ``2500`` -> 2500.

    >>> parse_scale("1m"), parse_scale("2k"), parse_scale("750")
    (1000000, 2000, 750)
    """
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", scale.strip().lower())
    if not match:
        raise ValueError(f"scale {scale!r}: write a number of customers like 100k, 1m or 2500")
    factor = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]
    return int(float(match.group(1)) * factor)


def _orders_csv(parquet: Path, csv: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(parquet)
    with pacsv.CSVWriter(csv, pf.schema_arrow, write_options=pacsv.WriteOptions(quoting_style="needed")) as w:
        for batch in pf.iter_batches(batch_size=1_000_000):
            w.write_batch(batch)


def ensure(scale: str, *, seed: int = 42, cache: Path = CACHE, log: bool = True) -> DataSpec:
    """The cached data set for ``scale`` (generated on first use): every table as Parquet plus ``orders.csv``."""
    from crmscore import synth

    customers = parse_scale(scale)
    folder = cache / f"{scale}-seed{seed}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        doc = json.loads(manifest.read_text())
        if (doc.get("customers") == customers and doc.get("seed") == seed
                and doc.get("cache_version") == CACHE_VERSION and (folder / "orders.csv").exists()):
            return DataSpec(folder, scale, customers, synth.DEFAULT_END)
    if log:
        print(f"generating {customers:,} customers (seed {seed}) into {folder} ...", flush=True)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    summary = synth.write(tmp, customers, seed=seed, format="parquet")
    _orders_csv(tmp / "orders.parquet", tmp / "orders.csv")
    doc = json.loads((tmp / "manifest.json").read_text()) | {"cache_version": CACHE_VERSION,
                                                               "generate_seconds": round(summary.seconds, 1)}
    (tmp / "manifest.json").write_text(json.dumps(doc, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    if log:
        print(f"  done in {summary.seconds:.1f} s: {summary.rows['orders']:,} orders", flush=True)
    return DataSpec(folder, scale, customers, synth.DEFAULT_END)
