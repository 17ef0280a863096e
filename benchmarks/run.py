"""Run the benchmark suite: ``python -m benchmarks.run --scale 100k|1m`` (``make bench SCALE=...``).

For each registered stage (see :mod:`benchmarks.registry`) one worker process runs the untimed setup, then the
timed runs, and reports median, spread and peak memory. A run that exceeds the stage's timeout is killed and
recorded as ``> N s``. Results go to ``benchmarks/results/<scale>.json`` and ``<scale>.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import data as bench_data
from benchmarks._measure import summarise
from benchmarks.registry import GROUPS, DataSpec, Stage, load_all

__all__ = ["main", "render_markdown", "run_stage", "run_suite"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
LIFETIMES_VENV = Path(__file__).resolve().parent / ".venv-lifetimes"
SETUP_TIMEOUT_S = 1800.0


# --- environments --------------------------------------------------------------------------------------------

def lifetimes_python(create: bool = True) -> Path | None:
    """The lifetimes environment's interpreter, created on demand; None when it cannot be made."""
    from benchmarks.lifetimes_peer import LIFETIMES_REQUIREMENTS

    python = LIFETIMES_VENV / "bin" / "python"
    probe = [str(python), "-c", "import lifetimes, pyarrow"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    if not create:
        return None
    print(f"creating {LIFETIMES_VENV} ({' '.join(LIFETIMES_REQUIREMENTS)}) ...", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    try:
        subprocess.run([base, "-m", "venv", str(LIFETIMES_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *LIFETIMES_REQUIREMENTS], check=True,
                       timeout=1200)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"  could not create the lifetimes environment: {exc}", flush=True)
        return None
    return python if subprocess.run(probe, capture_output=True).returncode == 0 else None


def _versions(python: str, packages: tuple[str, ...]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys; out = {'python': sys.version.split()[0]}\n"
            f"for p in {list(packages)!r}:\n"
            "    try: out[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


MAIN_PACKAGES = ("crmscore", "duckdb", "ibis-framework", "polars", "pandas", "pyarrow", "numpy", "scipy",
                 "pymc-marketing")
LIFETIMES_PACKAGES = ("lifetimes", "pandas", "scipy", "numpy", "autograd", "pyarrow")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram_gib, "os": platform.platform(),
            "python": platform.python_version(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


# --- running one stage ---------------------------------------------------------------------------------------

def _reader(stream: Any, q: queue.Queue[str | None]) -> None:
    for line in stream:
        q.put(line)
    q.put(None)


def run_stage(st: Stage, spec: DataSpec, runs: int, python: str) -> dict[str, Any]:
    """Run one stage in a worker process, applying the per-run timeout; returns its record."""
    base = {"stage": st.name, "group": st.group, "engine": st.engine, "title": st.title}
    if st.max_customers is not None and spec.customers > st.max_customers:
        return base | {"status": "skipped", "note": f"defined for <= {st.max_customers:,} customers"}
    env = os.environ | {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                        "PYTHONWARNINGS": "ignore"}
    runs = min(runs, st.max_runs) if st.max_runs else runs
    cmd = [python, "-m", "benchmarks.worker", st.module, st.name, spec.to_json(), str(runs)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    q: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
    err_lines: list[str] = []
    threading.Thread(target=lambda: err_lines.extend(proc.stderr or []), daemon=True).start()
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    seconds: list[float] = []
    final: dict[str, Any] | None = None
    timed_out = False
    while final is None:
        try:
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            if time.monotonic() >= deadline:
                timed_out = True
                break
            continue
        if line is None:
            break
        if line.startswith("@@SETUP@@"):
            deadline = time.monotonic() + st.timeout_s
        elif line.startswith("@@RUN@@"):
            seconds.append(json.loads(line[len("@@RUN@@"):])["seconds"])
            deadline = time.monotonic() + st.timeout_s
        elif line.startswith("@@BENCH@@"):
            final = json.loads(line[len("@@BENCH@@"):])
    if timed_out:
        proc.kill()
    proc.wait()
    if final is not None:
        return base | final
    if timed_out:
        rec = base | {"status": "timeout", "timeout_s": st.timeout_s,
                      "note": f"> {st.timeout_s:.0f} s (run killed)"}
        if seconds:
            rec |= {"seconds": seconds, **summarise(seconds)}
        return rec
    tail = "".join(err_lines[-15:])
    return base | {"status": "failed", "note": f"worker exited with {proc.returncode}", "stderr": tail}


# --- the suite -----------------------------------------------------------------------------------------------

def _selected(stages: dict[str, Stage], only: list[str] | None, skip: list[str]) -> list[Stage]:
    order = list(GROUPS)
    chosen = [s for s in stages.values()
              if (not only or s.name in only or s.group in only or s.engine in only)
              and s.name not in skip and s.group not in skip and s.engine not in skip]
    return sorted(chosen, key=lambda s: (order.index(s.group), not s.is_crmscore, s.name))


def ratios(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """crmscore stage median / peer median, for every pair in the same group (the headline)."""
    out = []
    for crm in records:
        if crm["engine"] != "crmscore" or crm.get("status") != "ok":
            continue
        for peer in records:
            if peer["group"] != crm["group"] or peer["engine"] == "crmscore":
                continue
            row = {"group": crm["group"], "crmscore": crm["stage"], "peer": peer["stage"],
                   "crmscore_s": crm["median_s"]}
            if peer.get("status") == "ok":
                row |= {"peer_s": peer["median_s"], "ratio": crm["median_s"] / peer["median_s"]}
            elif peer.get("status") == "timeout":
                row |= {"peer_s": None, "ratio": None, "note": f"peer {peer['note']}; ratio < "
                        f"{crm['median_s'] / peer['timeout_s']:.4f}"}
            else:
                row |= {"peer_s": None, "ratio": None, "note": f"peer {peer.get('status')}: {peer.get('note')}"}
            out.append(row)
    return out


def run_suite(spec: DataSpec, *, runs: int, only: list[str] | None = None, skip: list[str] | None = None,
              lifetimes: bool = True, log: bool = True) -> dict[str, Any]:
    stages = _selected(load_all(), only, skip or [])
    lt_python: Path | None = None
    if lifetimes and any(s.venv == "lifetimes" for s in stages):
        lt_python = lifetimes_python(create=True)
    records = []
    for st in stages:
        if st.venv == "lifetimes":
            if lt_python is None:
                records.append({"stage": st.name, "group": st.group, "engine": st.engine, "title": st.title,
                                "status": "skipped", "note": "lifetimes environment not available"
                                if lifetimes else "lifetimes peers disabled (--no-lifetimes)"})
                continue
            python = str(lt_python)
        else:
            python = sys.executable
        if log:
            print(f"[{st.group}] {st.name} ...", end=" ", flush=True)
        rec = run_stage(st, spec, runs, python)
        records.append(rec)
        if log:
            if rec.get("status") == "ok":
                print(f"{rec['median_s']:.3f} s (spread {rec['spread']:.0%}, peak {rec['peak_rss_mib']:.0f} MiB)",
                      flush=True)
            else:
                print(f"{rec.get('status')}: {rec.get('note')}", flush=True)
    manifest = json.loads((spec.dir / "manifest.json").read_text())
    versions = {"main": _versions(sys.executable, MAIN_PACKAGES)}
    if lt_python is not None:
        versions["lifetimes_env"] = _versions(str(lt_python), LIFETIMES_PACKAGES)
    return {"scale": spec.scale, "customers": spec.customers, "as_of": spec.as_of.isoformat(),
            "seed": manifest.get("seed"), "rows": manifest.get("rows", {}),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "runs_requested": runs,
            "machine": machine(), "versions": versions, "stages": records, "ratios": ratios(records)}


# --- reporting -----------------------------------------------------------------------------------------------

def _fmt_s(rec: dict[str, Any]) -> str:
    if rec.get("status") == "ok":
        return f"{rec['median_s']:.3f}"
    if rec.get("status") == "timeout":
        return f"> {rec['timeout_s']:.0f}"
    return "-"


def render_markdown(doc: dict[str, Any]) -> str:
    m, v = doc["machine"], doc["versions"]
    rows = doc["rows"]
    lines = [f"# crmscore benchmarks: {doc['scale']} ({doc['customers']:,} customers, "
             f"{rows.get('orders', 0):,} orders)", "",
             f"{doc['date']} · {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM · {m['os']} · "
             f"Python {m['python']} · load average at start {m['load_average_at_start']}", "",
             "Versions: " + ", ".join(f"{k} {val}" for k, val in v.get("main", {}).items()),
             ""]
    if "lifetimes_env" in v:
        lines += ["lifetimes environment: " + ", ".join(f"{k} {val}" for k, val in v["lifetimes_env"].items()), ""]
    lines += ["Data: " + ", ".join(f"{k} {n:,}" for k, n in rows.items()) + f"; as_of {doc['as_of']}, "
              f"seed {doc['seed']}.", "",
              "## Headline: crmscore / peer (median time ratio; < 1 means crmscore is faster)", "",
              "| group | crmscore stage | peer | crmscore s | peer s | ratio |", "|---|---|---|---:|---:|---:|"]
    for r in doc["ratios"]:
        peer_s = f"{r['peer_s']:.3f}" if r.get("peer_s") is not None else "-"
        ratio = f"**{r['ratio']:.2f}x**" if r.get("ratio") is not None else r.get("note", "-")
        lines.append(f"| {r['group']} | {r['crmscore']} | {r['peer']} | {r['crmscore_s']:.3f} | {peer_s} | {ratio} |")
    if not doc["ratios"]:
        lines.append("| (no crmscore stage ran) | | | | | |")
    lines += ["", "## Every stage", "",
              "| group | stage | engine | median s | min-max s | spread | runs | peak RSS MiB | result / note |",
              "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for rec in doc["stages"]:
        if rec.get("status") == "ok":
            rng = f"{rec['min_s']:.3f}-{rec['max_s']:.3f}"
            res = rec.get("result", {})
            if "rows" in res and rec["group"] == "import" and res["rows"]:
                res = res | {"rows_per_s": f"{res['rows'] / rec['median_s']:,.0f}"}
            note = ", ".join(f"{k}={val}" for k, val in res.items() if k != "versions")
            lines.append(f"| {rec['group']} | {rec['stage']} | {rec['engine']} | {rec['median_s']:.3f} | {rng} | "
                         f"{rec['spread']:.0%} | {len(rec['seconds'])} | {rec['peak_rss_mib']:.0f} | {note} |")
        else:
            note = str(rec.get("note", "")).replace("|", "/")
            lines.append(f"| {rec['group']} | {rec['stage']} | {rec['engine']} | {_fmt_s(rec)} | | | | | "
                         f"{rec.get('status')}: {note} |")
    lines += ["", "## Targets (from the issues)", "", "| group | what | target |", "|---|---|---|"]
    for name, g in GROUPS.items():
        if g["target"]:
            lines.append(f"| {name} | {g['title']} | {g['target']} |")
    lines += ["", "Peak RSS is the worker process's `VmHWM` (interpreter, imports and setup included). "
              "Timings are wall-clock medians on a shared, noisy machine: compare ratios, not absolutes.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100k", help="100k, 1m, or a number of customers (2k, 5000 ...)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per stage (default 3; 1 at >= 1m)")
    parser.add_argument("--only", default="", help="comma-separated stage, group or engine names")
    parser.add_argument("--skip", default="", help="comma-separated stage, group or engine names to skip")
    parser.add_argument("--no-lifetimes", action="store_true", help="skip the lifetimes peer environment")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other stages of an existing results file (re-run only --only)")
    parser.add_argument("--cache", type=Path, default=bench_data.CACHE, help="data cache folder")
    args = parser.parse_args(argv)
    customers = bench_data.parse_scale(args.scale)
    runs = args.runs or (1 if customers >= 1_000_000 else 3)
    spec = bench_data.ensure(args.scale, seed=args.seed, cache=args.cache)
    doc = run_suite(spec, runs=runs, only=[s for s in args.only.split(",") if s] or None,
                    skip=[s for s in args.skip.split(",") if s], lifetimes=not args.no_lifetimes)
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / f"{args.scale}.json"
    if args.merge and previous.exists():
        old = json.loads(previous.read_text())
        fresh = {r["stage"] for r in doc["stages"]}
        kept = [r for r in old["stages"] if r["stage"] not in fresh]
        order = {name: i for i, name in enumerate(GROUPS)}
        doc["stages"] = sorted(kept + doc["stages"], key=lambda r: (order[r["group"]], r["engine"] != "crmscore",
                                                                      r["stage"]))
        doc["ratios"] = ratios(doc["stages"])
        doc["merged_from"] = old.get("date")
    (args.out / f"{args.scale}.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (args.out / f"{args.scale}.md").write_text(render_markdown(doc))
    print(f"wrote {args.out / (args.scale + '.json')} and {args.out / (args.scale + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
