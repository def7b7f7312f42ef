"""Load test of the production set-up on loopback; prints one JSON object.

    .venv/bin/python bench/loadtest/run.py [--schools 5 --students-per-school 1000]
        [--database-url URL --var-dir DIR] [--users 200 | --steps 50,100,200]
        [--spawn-rate 20 --duration 60] [--web-workers 3 --threads 4]
        [--soak MINUTES] [--profile [--profile-mode cpu|wall]]

What runs, all on 127.0.0.1 and all stopped at the end:

- PostgreSQL (``scripts/pg_server.sh``, data under ``--workdir``), unless ``--database-url``
  names a database to use; a database that does not hold the seeded authority yet is migrated
  and seeded (``--schools`` × ``--students-per-school``), one that does is reused
  (``prepare.py`` also readies the sign-in accounts and the import workbooks);
- the web server as in production: gunicorn (gthread) with ``--web-workers`` workers, DEBUG
  off, no access log;
- the task worker (``edureg worker --queue-name '*'``), the upward sync relay (``edureg sync
  run``) and an identity verification batch of the whole authority (``edureg identity verify``,
  worked by the task worker), with the population-register, SMS and sector-database simulators;
- locust, headless, on the same machine (``locustfile.py``: homeroom teachers, principals and
  one IT officer importing workbooks). The figures cover ``--duration`` seconds that start
  once every simulated user has signed in, so the sign-ins (argon2, by design slow) are not in
  them.

The JSON holds requests/s, p50/p95/p99 (ms), errors (failed requests plus exceptions raised in
the simulated users), a per-endpoint breakdown, the CPU cores used by each group of processes
during the measured window (web workers, PostgreSQL, load generator, background work), the
options, and whether the target (``--rps-target`` at p99 ≤ ``--p99-target`` ms, no error) was
met. ``--steps`` runs several user counts one after the other against the same servers and
reports the ceiling: the highest throughput that kept p99 within the target with no error.
``--soak MINUTES`` runs that long at ``--soak-load`` (default half) of ``--users`` and samples
the web workers' resident memory every 30 s (growth is counted from the first sample after a
minute). ``--profile`` samples one web worker with py-spy over the measured window (of the last
step) and adds the top functions by cumulative and own samples, and the top edureg functions.

Ports: ``--pg-port`` (55470), ``--port`` (8170) and the three simulators on the next three.
Everything written goes under ``--workdir`` (default /tmp/loadtest), never the repository's
var/. ``--keep-db`` leaves the PostgreSQL server running for the next run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------------------------

class Processes:
    """Children started by this run, stopped in reverse order (their whole process group)."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.restartable: dict[str, list[str]] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        out = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the child
        child = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=out,  # noqa: S603
                                 stderr=subprocess.STDOUT, start_new_session=True)
        self.children[name] = child
        return child

    def restart_background(self) -> list[dict[str, Any]]:
        """Start again the worker or sync relay that stopped, as systemd's Restart= would, and
        say why it stopped (the last lines of its log); any other child stopping ends the run."""
        restarted = []
        for name, child in list(self.children.items()):
            if name == "locust" or child.poll() is None:
                continue
            if name not in self.restartable:
                raise RuntimeError(f"{name} stopped during the run (exit {child.returncode}); "
                                   f"see {self.logs / (name + '.log')}")
            lines = (self.logs / f"{name}.log").read_text(errors="replace").strip().splitlines()
            restarted.append({"process": name, "exit_code": child.returncode,
                              "at": f"{dt.datetime.now(dt.UTC):%H:%M:%S}",
                              "last_log_lines": lines[-3:]})
            log(f"{name} stopped (exit {child.returncode}): {lines[-1:]}; starting it again")
            self.start(name, self.restartable[name])
        return restarted

    def check(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise RuntimeError(f"{name} stopped (exit {child.returncode}); see "
                                   f"{self.logs / (name + '.log')}")

    def stop(self) -> None:
        for child in reversed(self.children.values()):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in reversed(self.children.values()):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def edureg(*args: str) -> list[str]:
    return [sys.executable, "-m", "edureg.cli.main", *args]


def wait_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")
        time.sleep(0.5)


def run_json(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,  # noqa: S603
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- /proc ---------------------------------------------------------------------------------

def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    found = [pid]
    for child in children_of(pid):
        found.extend(descendants(child))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime + stime, and cutime + cstime: the ended children it waited for (gunicorn
        # workers restarted, PostgreSQL backends of closed connections).
        total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB / 1024
    except OSError:
        return 0.0


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


# --- locust output -------------------------------------------------------------------------

def _number(value: str) -> float | None:
    try:
        return round(float(value), 1)
    except ValueError:
        return None


def read_stats(prefix: Path) -> dict[str, Any]:
    endpoints = []
    total: dict[str, Any] = {}
    with open(f"{prefix}_stats.csv", newline="") as stats_file:
        for row in csv.DictReader(stats_file):
            entry = {
                "name": row["Name"], "method": row["Type"],
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "requests_per_second": _number(row["Requests/s"]),
                "mean_ms": _number(row["Average Response Time"]),
                "p50_ms": _number(row["50%"]), "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]), "max_ms": _number(row["Max Response Time"]),
            }
            if row["Name"] == "Aggregated":
                total = entry
            else:
                endpoints.append(entry)
    failures = []
    with open(f"{prefix}_failures.csv", newline="") as failures_file:
        for row in csv.DictReader(failures_file):
            failures.append({"name": row["Name"], "error": row["Error"][:300],
                             "count": int(row["Occurrences"])})
    exceptions = []
    with open(f"{prefix}_exceptions.csv", newline="") as exceptions_file:
        for row in csv.DictReader(exceptions_file):
            exceptions.append({"message": row["Message"][:300], "count": int(row["Count"]),
                               "where": row["Traceback"].strip().splitlines()[-2:]})
    return {"total": total, "endpoints": sorted(endpoints, key=lambda item: -item["requests"]),
            "failures": failures, "exceptions": exceptions}


# --- py-spy --------------------------------------------------------------------------------

def profile_top(raw: Path, limit: int) -> dict[str, Any]:
    """Top functions of py-spy's collapsed stacks: cumulative (on the stack) and own (on top)."""
    cumulative: Counter[str] = Counter()
    own: Counter[str] = Counter()
    views: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [_frame(frame) for frame in stack.split(";")]
        for frame in set(frames):
            cumulative[frame] += count
        own[frames[-1]] += count
        # The view: the outermost edureg.web function that is not a middleware.
        view = next((frame for frame in frames if frame.split(" (", 1)[1].startswith(
            "edureg/web/") and "middleware" not in frame), "(no view: middleware, sign-in)")
        views[view] += count

    def table(counter: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": name, "percent": round(100 * count / samples, 1)}
                for name, count in counter.most_common(limit)]

    app = Counter({name: count for name, count in cumulative.items()
                   if name.split(" (", 1)[1].startswith("edureg/")})
    return {"samples": samples, "by_view": table(views), "cumulative": table(cumulative),
            "own": table(own), "edureg_cumulative": table(app)}


def _frame(frame: str) -> str:
    # "function (path/to/module.py:123)" → "function (module path, no line)", so that one
    # function's lines add up; the site-packages prefix is dropped.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


# --- the run -------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/loadtest")  # noqa: S108 - asked for
    parser.add_argument("--database-url", default="",
                        help="use this database (seeded if it is empty) instead of starting one")
    parser.add_argument("--var-dir", default="",
                        help="EDUREG_VAR_DIR of that database's seed (population-register "
                             "simulator file); default: under --workdir, per database")
    parser.add_argument("--schools", type=int, default=5)
    parser.add_argument("--students-per-school", type=int, default=1000)
    parser.add_argument("--pg-port", type=int, default=55470)
    parser.add_argument("--port", type=int, default=8170)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--spawn-rate", type=float, default=20)
    parser.add_argument("--steps", default="",
                        help="user counts to run one after the other (e.g. 50,100,200) to find "
                             "the ceiling; default: --users only")
    parser.add_argument("--rps-target", type=float, default=500)
    parser.add_argument("--p99-target", type=float, default=300)
    parser.add_argument("--duration", type=int, default=60,
                        help="seconds measured, after every user has signed in")
    parser.add_argument("--wait", default="1,3",
                        help="think time of a teacher between two actions, 'min,max' seconds "
                             "(principals wait twice as long)")
    parser.add_argument("--teachers", type=int, default=400,
                        help="distinct teacher accounts to spread the users over")
    parser.add_argument("--soak", type=float, default=0, metavar="MINUTES")
    parser.add_argument("--soak-load", type=float, default=0.5,
                        help="share of --users run during a soak")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--profile-mode", choices=("cpu", "wall"), default="cpu",
                        help="cpu: samples where the worker holds the GIL (py-spy --gil); "
                             "wall: every sample of a busy thread, waits on the database "
                             "included")
    parser.add_argument("--no-background", action="store_true",
                        help="no task worker, sync relay or verification batch")
    parser.add_argument("--keep-db", action="store_true",
                        help="leave the PostgreSQL server this run started running")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    workdir = Path(args.workdir)
    size = f"{args.schools}x{args.students_per_school}"
    started_pg: Path | None = None
    if args.database_url:
        database_url = args.database_url
        var_dir = Path(args.var_dir) if args.var_dir else workdir / "var-external"
    else:
        started_pg = workdir / "pg"
        out = subprocess.run([str(REPO / "scripts" / "pg_server.sh"), "start", str(started_pg),  # noqa: S603
                              str(args.pg_port)], capture_output=True, text=True, check=True)
        database_url = out.stdout.strip().rsplit("/", 1)[0] + f"/edureg_{size}"
        var_dir = Path(args.var_dir) if args.var_dir else workdir / f"var-{size}"
        created = subprocess.run(  # noqa: S603 - fixed argument list
            [f"{_pg_bin()}/createdb", "-h", "127.0.0.1", "-p", str(args.pg_port),
             "-U", "postgres", f"edureg_{size}"], capture_output=True, text=True, check=False)
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise RuntimeError(created.stderr)
    var_dir.mkdir(parents=True, exist_ok=True)
    results = Path(tempfile.mkdtemp(prefix=f"run-{dt.datetime.now(dt.UTC):%H%M%S}-",
                                    dir=workdir))
    ports = {"register": args.port + 1, "messages": args.port + 2, "upstream": args.port + 3}
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "EDUREG_VAR_DIR": str(var_dir),
        "EDUREG_DEBUG": "false",
        "EDUREG_LOG_LEVEL": "WARNING",
        "EDUREG_REGISTER_SIM_PORT": str(ports["register"]),
        "EDUREG_MESSAGES_SIM_PORT": str(ports["messages"]),
        "EDUREG_UPSTREAM_SIM_PORT": str(ports["upstream"]),
        "EDUREG_REGISTER_URL": f"http://127.0.0.1:{ports['register']}",
        "EDUREG_MESSAGES_URL": f"http://127.0.0.1:{ports['messages']}",
        "EDUREG_UPSTREAM_URL": f"http://127.0.0.1:{ports['upstream']}",
        "DJANGO_SETTINGS_MODULE": "edureg.settings",
        "PYTHONUNBUFFERED": "1",
    }
    processes = Processes(results, env)
    report: dict[str, Any] = {}
    try:
        log(f"database {database_url}, var {var_dir}, results {results}")
        seeding_started = time.perf_counter()
        seeded = run_json([sys.executable, str(HERE / "prepare.py"), "seed",
                           "--schools", str(args.schools),
                           "--students-per-school", str(args.students_per_school)], env)
        seeded["seconds"] = round(time.perf_counter() - seeding_started, 1)
        log(f"seed: {seeded}")
        accounts_file = var_dir / "loadtest-accounts.json"
        accounts = run_json([sys.executable, str(HERE / "prepare.py"), "accounts",
                             "--out", str(accounts_file), "--teachers", str(args.teachers)], env)
        log(f"accounts: {accounts}")
        background = {}
        register_db = var_dir / "population_register.sqlite3"
        for name in ("messages", "upstream", *(("register",) if register_db.exists() else ())):
            processes.start(f"sim-{name}", edureg("sim", name))
        for name, port in ports.items():
            if name in {"messages", "upstream"} or register_db.exists():
                wait_http(f"http://127.0.0.1:{port}/", 60)
        web = processes.start("web", [
            str(BIN / "gunicorn"), "edureg.wsgi:application",
            "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.web_workers),
            "--worker-class", "gthread", "--threads", str(args.threads),
            "--keep-alive", "30", "--backlog", "2048", "--timeout", "120",
        ])
        if not args.no_background:
            processes.restartable = {
                "worker": edureg("worker", "--queue-name", "*", "--no-reload"),
                "sync": edureg("sync", "run", "--interval", "2"),
            }
            for name, command in processes.restartable.items():
                processes.start(name, command)
            if register_db.exists():
                done = subprocess.run(edureg("identity", "verify", "--as", "canbo.sgd79",  # noqa: S603
                                             "--authority", "SGD79"),
                                      cwd=REPO, env=env, capture_output=True, text=True,
                                      check=False)
                background["verification_batch"] = (done.stdout or done.stderr).strip()[-300:]
            else:
                background["verification_batch"] = "skipped: no population-register file"
        wait_http(f"http://127.0.0.1:{args.port}/dang-nhap/", 120)
        processes.check()
        workers = children_of(web.pid)
        log(f"web up: master {web.pid}, workers {workers}")

        def measure(users: int, measured: int, *, soak: bool, profile: bool) -> dict[str, Any]:
            ramp = users / args.spawn_rate
            prefix = results / f"locust-{users}u"
            marker = results / f"measuring-{users}u"
            locust_env = {**env, "LOADTEST_ACCOUNTS": str(accounts_file),
                          "LOADTEST_WAIT": args.wait, "LOADTEST_MEASURE": str(measured),
                          "LOADTEST_MARKER": str(marker),
                          "LOADTEST_TOTP_STATE": str(var_dir / "loadtest-totp.json")}
            # --run-time is only a backstop: the locust file ends the run after the measured
            # window, which starts when every user has signed in.
            backstop = int(ramp * 5 + measured + 300)
            locust = subprocess.Popen([  # noqa: S603
                str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), "--headless",
                "--host", f"http://127.0.0.1:{args.port}", "-u", str(users),
                "-r", str(args.spawn_rate), "-t", f"{backstop}s",
                "--csv", str(prefix), "--only-summary", "--stop-timeout", "15",
                "--loglevel", "WARNING",
            ], cwd=REPO, env=locust_env, stdout=open(results / f"locust-{users}u.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT, start_new_session=True)
            processes.children["locust"] = locust
            spawn_started = time.monotonic()
            while not marker.exists():
                if locust.poll() is not None:
                    raise RuntimeError(f"locust ended before all users signed in; see {results}")
                if time.monotonic() - spawn_started > backstop:
                    raise RuntimeError("the users did not all sign in")
                time.sleep(0.2)
            sign_in_seconds = round(time.monotonic() - spawn_started, 1)
            log(f"{users} users signed in after {sign_in_seconds} s; measuring {measured} s")
            postmaster = postmaster_pid(started_pg) if started_pg is not None else None
            groups = {
                "web_workers": lambda: descendants(web.pid),
                "postgresql": lambda: descendants(postmaster) if postmaster else [],
                "load_generator": lambda: descendants(locust.pid),
                "background": lambda: [p for name, child in processes.children.items()
                                       if name in {"worker", "sync"} or name.startswith("sim-")
                                       for p in descendants(child.pid)],
            }
            cpu_before = {name: cpu_seconds(pids()) for name, pids in groups.items()}
            wall_before = time.monotonic()
            spy = None
            if profile:
                spy = subprocess.Popen([  # noqa: S603
                    str(BIN / "py-spy"), "record", "--pid", str(workers[0]), "--rate", "200",
                    "--duration", str(max(5, measured - 5)), "--format", "raw",
                    "--output", str(results / "profile.txt"), "--nonblocking",
                    *(["--gil"] if args.profile_mode == "cpu" else []),
                ], stdout=open(results / "py-spy.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
            rss: list[dict[str, Any]] = []
            restarts: list[dict[str, Any]] = []
            load_cpu = cpu_before["load_generator"]
            while locust.poll() is None:
                load_cpu = cpu_seconds(groups["load_generator"]()) or load_cpu
                if soak or not rss:
                    now = round(time.monotonic() - wall_before)
                    per_worker = {str(worker): round(rss_mb(worker), 1)
                                  for worker in children_of(web.pid)}
                    rss.append({"second": now, "total_mb": round(sum(per_worker.values()), 1),
                                "workers_mb": per_worker})
                restarts.extend(processes.restart_background())
                deadline = time.monotonic() + (30 if soak else 2)
                while locust.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.5)
            wall = time.monotonic() - wall_before
            # The load generator has ended by now: its last reading, a few seconds before its end.
            cpu_after = {name: cpu_seconds(pids()) for name, pids in groups.items()}
            cpu_after["load_generator"] = load_cpu
            stats = read_stats(prefix)
            total = stats["total"]
            # A background process that died (and was started again, as a supervisor would) is an
            # error of the run too.
            errors = (total.get("failures", 0) + sum(item["count"] for item in stats["exceptions"])
                      + len(restarts))
            step = {
                "users": users,
                "requests_per_second": total.get("requests_per_second"),
                "requests": total.get("requests"),
                "p50_ms": total.get("p50_ms"), "p95_ms": total.get("p95_ms"),
                "p99_ms": total.get("p99_ms"), "max_ms": total.get("max_ms"),
                "errors": errors,
                "failed_requests": total.get("failures", 0),
                "endpoints": stats["endpoints"],
                "failures": stats["failures"], "exceptions": stats["exceptions"],
                "background_restarts": restarts,
                "cpu_cores_used": {
                    name: round((cpu_after[name] - cpu_before[name]) / wall, 2)
                    for name in groups
                },
                "load_average": [round(value, 1) for value in os.getloadavg()],
                "measured_seconds": measured, "wall_seconds": round(wall, 1),
                "sign_in_seconds": sign_in_seconds,
            }
            if soak:
                steady = [sample for sample in rss if sample["second"] >= 60] or rss
                first, last = steady[0]["total_mb"], steady[-1]["total_mb"]
                step["soak"] = {
                    "rss_first_mb": first, "rss_last_mb": last,
                    "rss_growth_percent": round(100 * (last - first) / first, 1) if first else None,
                    "rss_max_mb": max(sample["total_mb"] for sample in steady),
                    "samples": rss,
                }
            else:
                step["web_rss_mb"] = rss[0] if rss else None
            if spy is not None:
                spy.wait(timeout=120)
                raw = results / "profile.txt"
                step["profile"] = ({"worker_pid": workers[0], "mode": args.profile_mode,
                                      **profile_top(raw, args.profile_top)}
                                     if raw.exists() else {"error": (results / "py-spy.log")
                                                           .read_text()[-500:]})
            del processes.children["locust"]
            return step

        soak = args.soak > 0
        steps = [int(part) for part in args.steps.split(",")] if args.steps else [args.users]
        if soak:
            steps = [max(1, round(args.users * args.soak_load))]
        results_by_step = []
        for number, users in enumerate(steps):
            results_by_step.append(measure(
                users, int(args.soak * 60) if soak else args.duration, soak=soak,
                profile=args.profile and number == len(steps) - 1))
            log(f"{users} users: {results_by_step[-1]['requests_per_second']} req/s, "
                f"p99 {results_by_step[-1]['p99_ms']} ms, {results_by_step[-1]['errors']} errors")
        good = [step for step in results_by_step
                if step["errors"] == 0 and (step["p99_ms"] or 0) <= args.p99_target]
        chosen = max(good, key=lambda step: step["requests_per_second"] or 0) if good \
            else results_by_step[0]
        report = {
            **chosen,
            "meets_target": bool(good) and (chosen["requests_per_second"] or 0)
            >= args.rps_target,
            "ceiling": {
                "requests_per_second": chosen["requests_per_second"] if good else None,
                "users": chosen["users"] if good else None,
                "rule": f"highest throughput with p99 <= {args.p99_target} ms and no error",
            },
            "steps": [{key: step[key] for key in (
                "users", "requests_per_second", "p50_ms", "p95_ms", "p99_ms", "errors",
                "cpu_cores_used", "load_average")} for step in results_by_step]
            if len(results_by_step) > 1 else None,
            "profile": results_by_step[-1].get("profile"),
            "machine": {"cpus": os.cpu_count()},
            "database": {"url": database_url, **seeded},
            "accounts": accounts,
            "background": background,
            "options": {
                "steps": steps, "spawn_rate": args.spawn_rate,
                "measured_seconds": int(args.soak * 60) if soak else args.duration,
                "wait": args.wait, "web_workers": args.web_workers, "threads": args.threads,
                "soak_minutes": args.soak, "profile": args.profile,
                "background": not args.no_background, "results": str(results),
                "targets": {"requests_per_second": args.rps_target, "p99_ms": args.p99_target},
            },
        }
    finally:
        processes.stop()
        if started_pg is not None and not args.keep_db:
            subprocess.run([str(REPO / "scripts" / "pg_server.sh"), "stop", str(started_pg)],  # noqa: S603
                           check=False)
        # Intake files are removed at commit; the uploads of an interrupted run are not.
        shutil.rmtree(var_dir / "intake", ignore_errors=True)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report.get("errors") == 0 else 1


def _pg_bin() -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda path: int(path.parts[-3]))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return str(versions[-1].parent)


if __name__ == "__main__":
    raise SystemExit(main())
