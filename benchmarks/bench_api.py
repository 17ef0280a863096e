"""API latency under load: customer list and detail with 50 concurrent clients on a 1M-customer workspace.

    python -m benchmarks.bench_api                       # 1M customers, 50 clients, 20 s per scenario
    python -m benchmarks.bench_api --customers 100000 --seconds 10

1. Builds (once, cached under benchmarks/.cache/api-<N>/) a workspace with N customers, 200 reps in 20
   departments, one snapshot with score/grade/segments/CLV/risk for every customer, and three users
   (admin: company; manager: department_tree; rep: self). Rows are generated inside DuckDB (seeded hash
   functions), so the data never leaves the warehouse.
2. Starts `crmscore serve` (real uvicorn) on 127.0.0.1 in its own process.
3. Runs the load generator, ``wrk`` (C; Debian package ``wrk``: ``apt-get install -y wrk``), with C
   connections, each sending its next request as soon as the last one answered (closed loop, no think time),
   for a fixed time per scenario, with API tokens. The request paths of each scenario (random page, filter and
   sort; random customer ids) are generated here with a seeded RNG and read by a small Lua script, which
   also prints wrk's latency percentiles as JSON.
4. Writes latency percentiles, throughput and the server's (and wrk's) CPU time per request to
   benchmarks/results/api.md (and .json).

Scenarios: list as admin (company scope: random page, one random filter, random sort), list as the manager
(department tree), list as a rep (self), detail (360 view) as admin for a random customer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "benchmarks" / ".cache"
RESULTS = REPO / "benchmarks" / "results"
TARGET_P99_MS = 50.0
PATHS = 20_000  # request paths per scenario (wrk cycles through them)


def build_workspace(path: Path, customers: int) -> dict[str, str]:
    """The benchmark workspace (built once) and an API token per user."""
    from crmscore.app.auth import create_token
    from crmscore.app.permissions import Principal
    from crmscore.app.users import create_user, find_user
    from crmscore.services.snapshots import list_snapshots, write_snapshot
    from crmscore.workspace import Workspace

    marker = path / "bench-ready"
    ws = Workspace.init(path) if not marker.exists() else Workspace(path)
    try:
        if not marker.exists():
            wh = ws.warehouse
            t0 = time.perf_counter()
            wh.execute("""INSERT INTO owners (owner_id, name, department)
                SELECT 'r' || i, 'Rep ' || i, 'Sales/D' || (i % 20) || '/T' || (i % 3) FROM range(200) t(i)""")
            wh.execute(f"""INSERT INTO customers (customer_id, name, type, industry, region, owner_id, phone, email,
                           contact_name, created_on)
                SELECT 'C' || lpad(i::VARCHAR, 7, '0'), 'Customer ' || i || ' ' || md5(i::VARCHAR)[:6],
                       CASE WHEN i % 3 = 0 THEN 'B2C' ELSE 'B2B' END, 'industry' || (i % 12), 'region' || (i % 7),
                       'r' || (hash(i) % 200), '138' || lpad((i % 100000000)::VARCHAR, 8, '0'),
                       'c' || i || '@example.com', 'Contact ' || i, DATE '2020-01-01' + (i % 1500)::INTEGER
                FROM range({customers}) t(i)""")
            results = wh.con.sql(f"""
                SELECT 'C' || lpad(i::VARCHAR, 7, '0') AS customer_id,
                       round((hash(i * 7) % 10000) / 100.0, 1) AS score,
                       CASE WHEN hash(i * 7) % 10000 >= 8000 THEN 'A' WHEN hash(i * 7) % 10000 >= 6000 THEN 'B'
                            WHEN hash(i * 7) % 10000 >= 4000 THEN 'C' ELSE 'D' END AS grade,
                       ['Champions', 'Loyal', 'Potential', 'At Risk', 'Hibernating', 'New'][(1 + hash(i * 3) % 6)::BIGINT]
                           AS rfm_segment,
                       ['new', 'repeat', 'loyal', 'at_risk', 'churned'][(1 + hash(i * 5) % 5)::BIGINT] AS lifecycle_stage,
                       ['A', 'B', 'C'][(1 + hash(i * 11) % 3)::BIGINT] AS abc_class,
                       ['high', 'mid', 'low'][(1 + hash(i * 13) % 3)::BIGINT] AS value_tier,
                       (hash(i * 17) % 100000) / 10.0 AS monetary, (hash(i * 19) % 50000) / 10.0 AS clv,
                       (hash(i * 23) % 1000) / 1000.0 AS p_alive, (hash(i * 29) % 1000) / 1000.0 AS churn_risk
                FROM range({customers}) t(i)""")
            write_snapshot(wh, as_of=date(2024, 12, 31), customers=results,
                           meta={"created_by": "bench", "scorecard": "synthetic"})
            print(f"built {customers} customers and a snapshot in {time.perf_counter() - t0:.1f} s", flush=True)
            with ws.session() as s:
                create_user(s, "admin", "bench password", role="admin", scope="company",
                            can_view_personal_data=True)
                create_user(s, "manager", "bench password", role="manager", scope="department_tree",
                            department="Sales/D3", can_view_personal_data=True)
                create_user(s, "rep", "bench password", role="rep", scope="self", owner_id="r7")
                s.commit()
            marker.write_text("ok")
        assert list_snapshots(ws.warehouse)
        tokens = {}
        with ws.session() as s:
            for name in ("admin", "manager", "rep"):
                user = find_user(s, name)
                assert user is not None
                tokens[name] = create_token(s, Principal.from_user(user), "bench", "bench")[1]
        return tokens
    finally:
        ws.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"server did not listen on {port}")


def _list_params(rng: random.Random) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": 50, "offset": rng.choice([0, 0, 50, 100, 1000])}
    choice = rng.randrange(6)
    if choice == 0:
        params["grade"] = rng.choice("ABCD")
    elif choice == 1:
        params["segment"] = rng.choice(["Champions", "At Risk", "New"])
    elif choice == 2:
        params["risk_min"] = 0.8
    elif choice == 3:
        params["q"] = f"customer {rng.randrange(1000)}"
    params["sort"] = rng.choice(["-score", "name", "-clv", "churn_risk", "customer_id"])
    return params


def scenario_paths(scenario: str, customers: int, count: int, seed: int) -> list[str]:
    """``count`` request paths of a scenario ('list' or 'detail'), from a seeded RNG (the same every run)."""
    rng = random.Random(seed)
    if scenario == "detail":
        return [f"/api/customers/C{rng.randrange(customers):07d}" for _ in range(count)]
    return ["/api/customers?" + urlencode(_list_params(rng)) for _ in range(count)]


# wrk's Lua script: each thread cycles through the paths file (from its own offset); done() prints the summary
# and latency percentiles (microseconds) as one JSON line.
WRK_SCRIPT = r"""
local paths, n, i = {}, 0, 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    paths[n] = line
  end
  i = ((id or 0) * 7919) % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "latency_us": {"min": %d, "mean": %.1f, "p50": %d, "p95": %d, ' ..
    '"p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max))
end
"""


def cache_shapes(paths: list[str]) -> list[str]:
    """One request per distinct (filter, sort) of a list scenario, first page, no name search: what the server
    computes once per data version (the filter's row set, the sort order, the set in that order).

    >>> cache_shapes(["/api/customers?limit=50&offset=100&grade=A&sort=name",
    ...               "/api/customers?limit=50&offset=0&grade=A&sort=name", "/api/customers?q=x&sort=-score"])
    ['/api/customers?limit=50&offset=0&grade=A&sort=name', '/api/customers?sort=-score']
    """
    shapes: dict[str, None] = {}
    for path in paths:
        route, _, query = path.partition("?")
        params = [(k, "0" if k == "offset" else v) for k, v in parse_qsl(query) if k != "q"]
        shapes[route + ("?" + urlencode(params) if params else "")] = None
    return list(shapes)


def warm_caches(base_url: str, token: str, paths: list[str]) -> dict[str, Any]:
    """Send each path once, one at a time (the cold cost: every first computation): count, seconds, max ms."""
    start, slowest = time.perf_counter(), 0.0
    for path in paths:
        t0 = time.perf_counter()
        request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
        slowest = max(slowest, time.perf_counter() - t0)
    return {"requests": len(paths), "seconds": round(time.perf_counter() - start, 2),
            "max_ms": round(slowest * 1000, 1)}


def find_wrk() -> str:
    """The wrk executable, or a clear error saying how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("bench_api needs the HTTP load generator wrk, which is not installed: "
                         "install it with `apt-get install -y wrk` (Debian/Ubuntu package wrk 4.1; macOS: `brew install wrk`)")
    return path


def run_wrk(wrk: str, base_url: str, token: str, paths_file: Path, script: Path, clients: int,
            seconds: float, threads: int) -> dict[str, Any]:
    """One closed-loop wrk run: its JSON summary plus wrk's own CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([wrk, "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s", "--timeout", "60s",
                           "-H", f"Authorization: Bearer {token}", "-s", str(script), base_url, "--",
                           str(paths_file)], capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    out: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    out["wrk_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(customers: int, clients: int, seconds: float, threads: int) -> dict[str, Any]:
    wrk = find_wrk()
    path = CACHE / f"api-{customers}"
    tokens = build_workspace(path, customers)
    work = CACHE / f"api-{customers}-wrk"
    work.mkdir(parents=True, exist_ok=True)
    script = work / "scenario.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    # the server's log goes to a file: an undrained pipe fills up and blocks it
    log = (CACHE / f"api-{customers}-server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "crmscore.cli.main", "serve", "-w", str(path),
                               "--port", str(port)], env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    scenarios = [("list_admin_company", "admin"), ("list_manager_department_tree", "manager"),
                 ("list_rep_self", "rep"), ("detail", "admin")]
    results: dict[str, Any] = {}
    try:
        _wait(port, timeout=600.0)  # the server prepares its serving view before it listens
        for seed, (name, user) in enumerate(scenarios):
            paths_file = work / f"{name}.txt"
            kind = "detail" if name == "detail" else "list"
            paths = scenario_paths(kind, customers, PATHS, 1000 + seed)
            paths_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
            # warm-up outside the measurement: first each distinct (filter, sort) once (the first computation of
            # each row set and sort order, once per data version), then 4 connections for 2 s
            cold = warm_caches(base_url, tokens[user], cache_shapes(paths) if kind == "list" else paths[:50])
            run_wrk(wrk, base_url, tokens[user], paths_file, script, 4, 2.0, 1)
            cpu_before = _cpu_seconds(server.pid)
            out = run_wrk(wrk, base_url, tokens[user], paths_file, script, clients, seconds, threads)
            cpu_after = _cpu_seconds(server.pid)
            n, lat = out["requests"], out["latency_us"]
            errors = sum(out["errors"].values())
            results[name] = {
                "requests": n, "errors": errors, "error_kinds": out["errors"],
                "rps": round(n / (out["duration_us"] / 1e6), 1),
                **{f"{k}_ms": round(lat[k] / 1000, 1) for k in ("p50", "p95", "p99", "max")},
                "mean_ms": round(lat["mean"] / 1000, 1),
                # CPU per request over the measured run: the numbers least affected by other load
                "server_cpu_ms_per_request": None if cpu_before is None or cpu_after is None
                else round((cpu_after - cpu_before) * 1000 / max(1, n), 3),
                "wrk_cpu_ms_per_request": round(out["wrk_cpu_s"] * 1000 / max(1, n), 3),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "warm_up": cold,
            }
            print(name, results[name], flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return results


def _machine() -> dict[str, Any]:
    wrk = shutil.which("wrk")
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False).stdout.split("[")[0].strip() \
        if wrk else "missing"
    return {"wrk": version, "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "os": platform.platform()}


def write_report(results: dict[str, Any], args: argparse.Namespace, machine: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# API latency under load", "",
        f"Measured {stamp} with `python -m benchmarks.bench_api --customers {args.customers} --clients "
        f"{args.clients} --seconds {args.seconds:g}`: `crmscore serve` (uvicorn, one process) on 127.0.0.1; "
        f"load generator `wrk` ({machine['wrk']}, {args.threads} thread(s)) with {args.clients} connections in a "
        f"closed loop (each sends its next request when the last one answered, no think time), "
        f"{args.seconds:g} s per scenario, API-token authentication. Warm-up outside the measurement: each distinct "
        "(filter, sort) of the scenario once, sequentially (the server computes a row set and a sort order on "
        "first use, once per data version; the cold cost is in the second table), then 4 connections for 2 s.",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), load average at start "
        f"{machine['load_average']}, Python {machine['python']}. The machine is shared with other work, so "
        "absolute numbers vary between runs; the load average after each scenario is in the table.", "",
        f"Target (issue 7): p99 <= {TARGET_P99_MS:g} ms.", "",
        "| scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms | server CPU ms/req "
        "| wrk CPU ms/req | load avg (1 min) | meets target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        ok = "yes" if r["p99_ms"] <= TARGET_P99_MS and not r["errors"] else "no"
        lines.append(f"| {name} | {r['requests']} | {r['errors']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | "
                     f"{r['p99_ms']} | {r['max_ms']} | {r.get('server_cpu_ms_per_request')} | "
                     f"{r.get('wrk_cpu_ms_per_request')} | {r['load_average'][0]} | {ok} |")
    lines += ["", "Warm-up (cold caches, one request at a time):", "",
              "| scenario | distinct requests | seconds | slowest ms |", "|---|---|---|---|"]
    for name, r in results.items():
        w = r["warm_up"]
        lines.append(f"| {name} | {w['requests']} | {w['seconds']} | {w['max_ms']} |")
    lines += ["", "Scenarios: list = `GET /api/customers` with a random page (offset 0-1000, 50 rows), one random "
              "filter (grade, segment, risk >= 0.8, name search or none) and a random sort; detail = "
              "`GET /api/customers/{id}` (360 view: profile, scores, explanation, history, activity) for a random "
              f"customer. The {PATHS} request paths of each scenario come from a seeded RNG "
              "(`scenario_paths`), so every run sends the same requests.", "",
              "How the server answers (crmscore.app.serving, crmscore.app.fastpath): the customer view (customers, "
              "owners and the latest snapshot) is materialised in memory once per data version; scope and filter "
              "row sets, sort permutations and each cached set in each order are computed on first use and cached; "
              "each request computes its own page (no response cache): the name search (trigram index), the page's "
              "positions and its 50 rows, masked for the caller, encoded by orjson. A warm request with a cached "
              "bearer principal and plain parameters is answered by an ASGI fast path in front of FastAPI (no "
              "routing, dependency solving or worker thread; same bytes as FastAPI); everything else goes through "
              "FastAPI. `crmscore serve` runs uvicorn on uvloop and httptools without the access log. The "
              "benchmark workspace has no activity and one snapshot, so the 360 view needs no warehouse query (with "
              "activity or older snapshots it takes the worker-thread path with one or two bound-parameter "
              "queries). wrk shares the two cores with the server; server CPU ms/req is the server process's CPU "
              "time per measured request, the number least affected by other load on the machine.", ""]
    out = RESULTS / "api.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    (RESULTS / "api.json").write_text(json.dumps({"args": vars(args), "machine": machine, "results": results},
                                                 indent=2), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (one keeps up with 50 connections)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached workspace")
    args = parser.parse_args()
    if args.rebuild:
        shutil.rmtree(CACHE / f"api-{args.customers}", ignore_errors=True)
    find_wrk()
    machine = _machine()
    results = run(args.customers, args.clients, args.seconds, args.threads)
    print(f"wrote {write_report(results, args, machine)}")


if __name__ == "__main__":
    main()
