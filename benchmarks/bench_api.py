"""API latency under load: customer list and detail with 50 concurrent clients on a 1M-customer workspace.

    python -m benchmarks.bench_api                       # 1M customers, 50 clients, 20 s per scenario
    python -m benchmarks.bench_api --customers 100000 --seconds 10

1. Builds (once, cached under benchmarks/.cache/api-<N>/) a workspace with N customers, 200 reps in 20
   departments, one snapshot with score/grade/segments/CLV/risk for every customer, and three users
   (admin: company; manager: department_tree; rep: self). Rows are generated inside DuckDB (seeded hash
   functions), so the data never leaves the warehouse.
2. Starts `crmscore serve` (real uvicorn) on 127.0.0.1 in its own process.
3. Runs the load generator in another process: an asyncio httpx pool of C concurrent clients, each sending its
   next request as soon as the last one answered (closed loop), for a fixed time per scenario, with API tokens.
4. Writes latency percentiles and throughput to benchmarks/results/api.md (and .json).

Scenarios: list as admin (company scope: random page, one random filter, random sort), list as the manager
(department tree), list as a rep (self), detail (360 view) as admin for a random customer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from queue import Empty
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "benchmarks" / ".cache"
RESULTS = REPO / "benchmarks" / "results"
TARGET_P99_MS = 50.0


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


async def _client(http: Any, scenario: str, token: str, customers: int, until: float, seed: int,
                  latencies: list[float], errors: list[int]) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    while time.perf_counter() < until:
        if scenario == "detail":
            url, params = f"/api/customers/C{rng.randrange(customers):07d}", None
        else:
            url, params = "/api/customers", _list_params(rng)
        start = time.perf_counter()
        resp = await http.get(url, params=params, headers=headers)
        elapsed = time.perf_counter() - start
        if resp.status_code != 200:
            errors.append(resp.status_code)
        latencies.append(elapsed)


def _load(base_url: str, scenario: str, token: str, customers: int, clients: int, seconds: float,
          queue: Any) -> None:
    import httpx

    async def main() -> tuple[list[float], list[int], float]:
        latencies: list[float] = []
        errors: list[int] = []
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as http:
            # warm-up: a few requests outside the measurement
            await asyncio.gather(*[_client(http, scenario, token, customers, time.perf_counter() + 2, i, [], [])
                                   for i in range(4)])
            start = time.perf_counter()
            await asyncio.gather(*[_client(http, scenario, token, customers, start + seconds, 1000 + i,
                                           latencies, errors) for i in range(clients)])
            return latencies, errors, time.perf_counter() - start

    queue.put(asyncio.run(main()))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(customers: int, clients: int, seconds: float, workers: int) -> dict[str, Any]:
    path = CACHE / f"api-{customers}"
    tokens = build_workspace(path, customers)
    port = _free_port()
    env = dict(os.environ)
    # the server's log (one access line per request) goes to a file: an undrained pipe fills up and blocks it
    log = (CACHE / f"api-{customers}-server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "crmscore.cli.main", "serve", "-w", str(path),
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    scenarios = [("list_admin_company", "admin"), ("list_manager_department_tree", "manager"),
                 ("list_rep_self", "rep"), ("detail", "admin")]
    results: dict[str, Any] = {}
    try:
        _wait(port, timeout=600.0)  # the server prepares its serving view before it listens
        ctx = mp.get_context("spawn")
        for name, user in scenarios:
            queue = ctx.Queue()
            proc = ctx.Process(target=_load, args=(f"http://127.0.0.1:{port}", "detail" if name == "detail"
                                                   else "list", tokens[user], customers, clients, seconds, queue))
            cpu_before = _cpu_seconds(server.pid)
            proc.start()
            while True:  # a load generator that dies must not leave the benchmark waiting forever
                try:
                    latencies, errors, elapsed = queue.get(timeout=5)
                    break
                except Empty:
                    if not proc.is_alive():
                        raise RuntimeError(f"the load generator of {name} died (exit code {proc.exitcode})") \
                            from None
            proc.join()
            cpu_after = _cpu_seconds(server.pid)
            ms = [x * 1000 for x in latencies]
            results[name] = {"requests": len(ms), "errors": len(errors), "rps": round(len(ms) / elapsed, 1),
                             "p50_ms": round(_percentile(ms, 50), 1), "p95_ms": round(_percentile(ms, 95), 1),
                             "p99_ms": round(_percentile(ms, 99), 1), "max_ms": round(max(ms), 1),
                             "mean_ms": round(statistics.fmean(ms), 1),
                             # server CPU per request, warm-up included (less sensitive to other load)
                             "server_cpu_ms_per_request": None if cpu_before is None or cpu_after is None
                             else round((cpu_after - cpu_before) * 1000 / max(1, len(ms)), 2)}
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
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "os": platform.platform()}


def write_report(results: dict[str, Any], args: argparse.Namespace, machine: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# API latency under load", "",
        f"Measured {stamp} with `python -m benchmarks.bench_api --customers {args.customers} --clients "
        f"{args.clients} --seconds {args.seconds}`: `crmscore serve` (uvicorn, one process) on 127.0.0.1, "
        f"a closed-loop asyncio httpx load generator with {args.clients} concurrent clients in a separate "
        f"process, {args.seconds:g} s per scenario after a 2 s warm-up, API-token authentication.", "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), load average at start "
        f"{machine['load_average']}, Python {machine['python']}. The machine is shared with other work, so "
        "absolute numbers vary between runs.", "",
        f"Target (issue 7): p99 <= {TARGET_P99_MS:g} ms.", "",
        "| scenario | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms | server CPU ms/req "
        "| meets target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        ok = "yes" if r["p99_ms"] <= TARGET_P99_MS else "no"
        lines.append(f"| {name} | {r['requests']} | {r['errors']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | "
                     f"{r['p99_ms']} | {r['max_ms']} | {r.get('server_cpu_ms_per_request')} | {ok} |")
    lines += ["", "Scenarios: list = `GET /api/customers` with a random page (offset 0-1000, 50 rows), one random "
              "filter (grade, segment, risk >= 0.8, name search or none) and a random sort; detail = "
              "`GET /api/customers/{id}` (360 view: profile, scores, explanation, history, activity) for a random "
              "customer.", "",
              "How the server answers (crmscore.app.serving): the customer view (customers, owners and the latest "
              "snapshot) is materialised in memory once per data version; scope and filter row sets and sort "
              "permutations are computed by DuckDB on first use and cached; each request computes its own page "
              "(no response cache); the name search uses a byte-trigram index; the 360 view reads the serving row "
              "and runs one or two bound-parameter queries. The load generator (Python httpx) shares the two cores "
              "with the server; server CPU ms/req is the server process's CPU time per measured request (warm-up "
              "included), the number least affected by other load on the machine.", ""]
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
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached workspace")
    args = parser.parse_args()
    if args.rebuild:
        shutil.rmtree(CACHE / f"api-{args.customers}", ignore_errors=True)
    machine = _machine()
    results = run(args.customers, args.clients, args.seconds, args.workers)
    print(f"wrote {write_report(results, args, machine)}")


if __name__ == "__main__":
    main()
