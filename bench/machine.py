"""What every benchmark measures besides its own figures: progress lines, the CPU other processes took during a
timed step (the machine is shared), waiting for a quiet machine, the JVM heap peak, and which code ran."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import datetime
from pathlib import Path

QUIET_WAIT = {"s": 0.0}        # --quiet-wait: before each timed step, wait up to this long for a quiet machine


def lake_settings(root, *overrides: str):
    """The embedded default with a benchmark's lake, landing, truth and local state under `root`, progress bars
    off, then `overrides` (`--set` strings)."""
    from jobs.config import load_settings
    return load_settings("local", [f"lake.root={root}/lake", f"lake.landing={root}/landing", f"lake.truth={root}/truth",
                                   f"lake.local_data={root}/local", "spark.show_progress=false", *overrides])


def generate_and_ingest(spark, settings, prepared: Path, customers: int, days: int, sources: list[str]) -> dict:
    """Generates a bank of `customers` x `days` for `sources`, ingests all of it, and records what it took in
    the JSON file `prepared` (read back by a later run that reuses the lake)."""
    from jobs.generate import generate
    from jobs.ingest import ingest
    progress(f"generating {customers:,} customers x {days} days ({', '.join(sources)})")
    gen = generate(spark, settings, customers=customers, days=days, sources=list(sources))
    progress(f"generated {sum(gen['rows'].values()):,} landing rows in {gen['seconds']}s; ingesting")
    m = timed_step()
    results = ingest(spark, settings, sources=list(sources))
    prep = {"customers": customers, "days": days, "landing_rows": gen["rows"], "generate_s": gen["seconds"],
            "ingest_s": m.stop()["s"], "ingest_rows": sum(r.rows_received for r in results),
            "end_date": gen["end_date"], "prepared_on": datetime.now().date().isoformat()}
    prepared.write_text(json.dumps(prep, indent=2, default=str))
    return prep


def progress(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S} load {os.getloadavg()[0]:.1f}] {msg}", flush=True)


# -- the machine is shared: CPU time other processes took during each timed step ---------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(process time of every process: user + nice + system, time the hypervisor gave to others: steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2], v[7]


def _process_tree() -> dict[int, tuple[str, list[str]]]:
    """{pid: (command name, the /proc/<pid>/stat fields after it)} of this process and its descendants."""
    parent, stat = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        parent[int(d)], stat[int(d)] = int(fields[1]), (head.split("(", 1)[1], fields)
    mine, todo = set(), [os.getpid()]
    while todo:
        p = todo.pop()
        mine.add(p)
        todo += [c for c, pp in parent.items() if pp == p and c not in mine]
    return {p: stat[p] for p in mine if p in stat}


def _own_ticks() -> int:
    """CPU ticks of this process and its descendants (the JVM, Python workers), ended ones included."""
    # with the reaped children's time (cutime, cstime): a Python worker that ends moves to its parent's count
    return sum(sum(int(x) for x in fields[11:15]) for _, fields in _process_tree().values())


class Meter:
    """Wall seconds of a step, the CPU seconds other processes used meanwhile (out of 2 cores x wall) and the CPU
    seconds the hypervisor took (steal)."""

    def __init__(self):
        self.t, (self.busy, self.steal), self.own = time.time(), _machine_ticks(), _own_ticks()

    def stop(self) -> dict:
        wall = time.time() - self.t
        busy, steal = _machine_ticks()
        other = max(0, (busy - self.busy) - (_own_ticks() - self.own)) / _TICK
        return {"s": round(wall, 3), "other_cpu_s": round(other, 1), "steal_s": round((steal - self.steal) / _TICK, 1)}


def wait_quiet(max_wait: float, window: float = 5.0, threshold: float = 0.1, windows: int = 3) -> float:
    """Waits (up to `max_wait` seconds) until other processes use under `threshold` of a core in `windows`
    successive windows of `window` seconds; returns the seconds waited. The machine is shared: a test run next
    door doubles a Spark step."""
    started, quiet = time.time(), 0
    while True:
        m = Meter()
        time.sleep(window)
        other = m.stop()["other_cpu_s"]
        quiet = quiet + 1 if other < threshold * window else 0
        if quiet >= windows or time.time() - started >= max_wait:
            waited = time.time() - started
            if waited > window * (windows + 0.5):
                progress(f"waited {waited:.0f}s for other processes to finish (last {other / window:.2f} cores)")
            return round(waited, 1)


def timed_step() -> "Meter":
    """A Meter started once the machine is quiet (or after --quiet-wait seconds)."""
    if QUIET_WAIT["s"] > 0:
        wait_quiet(QUIET_WAIT["s"])
    return Meter()


def contended(meter: dict, share: float = 0.1) -> bool:
    """Other processes took over `share` of the machine's 2 cores during the step."""
    return meter["other_cpu_s"] > share * 2 * meter["s"]


def code_fingerprint(spark, sources: list[str], module: str) -> dict:
    """Which code ran: the repository folder imported on the driver and by the Python workers, and a digest of
    `sources` (globs under the repository; another engineer may be editing them while the benchmark runs).
    `module` is imported on a worker to check it is the driver's copy."""
    import importlib

    root = Path(__file__).resolve().parent.parent
    files = sorted({f for pattern in sources for f in root.glob(pattern)})
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
    worker = spark.sparkContext.parallelize([0], 1).map(
        lambda _: __import__(module, fromlist=["_"]).__file__).collect()[0]
    driver = importlib.import_module(module).__file__
    if Path(worker).resolve() != Path(driver).resolve():
        raise SystemExit(f"the Python workers import {worker}, the driver {driver}; set PYTHONPATH to the same folder")
    return {"root": str(root), "sources_sha256": digest, "files": [str(f.relative_to(root)) for f in files]}


def jvm_heap_pools(spark):
    mf = spark._jvm.java.lang.management.ManagementFactory
    return [p for p in mf.getMemoryPoolMXBeans() if str(p.getType()) == "Heap memory"]


def jvm_peak_heap_bytes(spark) -> int:
    return sum(p.getPeakUsage().getUsed() for p in jvm_heap_pools(spark))


def reset_jvm_peak(spark) -> None:
    for p in jvm_heap_pools(spark):
        p.resetPeakUsage()


# -- memory: what the driver really holds, sampled while the work runs -------------------------------------

def _tree_rss() -> dict[int, tuple[str, int]]:
    """{pid: (command name, resident bytes)} of this process and its descendants."""
    page = os.sysconf("SC_PAGE_SIZE")
    return {p: (name, int(fields[21]) * page) for p, (name, fields) in _process_tree().items()}


class PeakMemory:
    """Peaks, sampled every `interval` seconds in a background thread, of:
    - `driver_rss`: resident memory of the driver, i.e. this Python process plus the JVM it started (in local
      mode the executors live in that JVM);
    - `workers_rss`: the Python worker processes (pandas UDFs, mapInPandas) at the same instant;
    - `heap_used`: the JVM's used heap (all pools at one instant, unlike the sum of each pool's own peak).
    """

    def __init__(self, spark, interval: float = 0.5):
        import threading

        self.spark, self.interval = spark, interval
        self.peak = {"driver_rss": 0, "workers_rss": 0, "heap_used": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="peak-memory")

    def _sample(self) -> None:
        tree = _tree_rss()
        me = os.getpid()
        driver = sum(rss for p, (name, rss) in tree.items() if p == me or name == "java")
        workers = sum(rss for p, (name, rss) in tree.items() if p != me and name != "java")
        heap = self.spark._jvm.java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed()
        for k, v in (("driver_rss", driver), ("workers_rss", workers), ("heap_used", heap)):
            self.peak[k] = max(self.peak[k], v)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sample()
            except Exception:  # the session is shutting down
                return

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def gib(self) -> dict:
        return {f"peak_{k}_gib": round(v / 2**30, 2) for k, v in self.peak.items()}


def report(rows: list[tuple[str, str]], out: dict, out_dir: str, name: str, width: int = 55) -> None:
    """Print the result table (and a CONTENDED warning for the steps in out["contended"]), and write
    <out_dir>/<name>.json."""
    print()
    for k, v in rows:
        print(f"{k:<{width}}{v:>30}")
    if out.get("contended"):
        print(f"\nCONTENDED: other processes took over 10% of the machine during {', '.join(out['contended'])}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(out, indent=2, default=str))
