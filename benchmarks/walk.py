"""Shared machinery of the JSON Schema benchmarks (maskbench.py, testsuite.py).

One *task* is a schema with its test instances, already tokenized. An engine compiles the
schema (timed: schema text -> first matcher ready), then walks every instance token by token:
time the mask computation, check that the next token's bit is set in the mask (the same
check for every engine, on the int32 bitmask row the engine filled), then consume the token.
At the end of the instance, one more mask is computed (timed: it is a decode step too) and
end-of-sequence must be allowed in it. An instance is *accepted* when every token and EOS
passed; *rejected* otherwise, or when the engine refuses (an exception, or a token whose bit
was set but that the engine then refused: counted separately as an inconsistency).

Tasks run in worker processes, one engine at a time (``--jobs`` workers of that engine in
parallel, each single-threaded). The parent enforces a per-task wall-clock timeout and a
resident-memory limit by killing the worker (the task counts as failed) and starting a fresh
one; engine loading is not charged to the timeout. ``jobs=0`` runs in-process without
timeouts (tests, debugging).

Serialization of instances, the same for every engine:
``json.dumps(data, separators=(",", ":"), ensure_ascii=False)`` (compact; non-ASCII text as
UTF-8, not as ``\\uXXXX`` escapes; Python's float repr, e.g. ``1e-05``), tokenized with the
``tokenizers`` library, no special tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

# every engine single-threaded (set before numpy/torch/tokenizers are imported in workers)
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

ENGINES = ("bytegram", "llguidance", "xgrammar", "outlines-core")
# also accepted by --engines, not run by default: xgrammar with any_whitespace=True
VARIANTS = ("xgrammar-ws",)
SERIALIZATION = 'json.dumps(data, separators=(",", ":"), ensure_ascii=False)'


def serialize(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def data_root() -> Path:
    from peers import DATA

    return DATA


# --------------------------------------------------------------------------- tasks

@dataclass
class Task:
    """A schema and its instances: ``(valid, token ids)``; ``key`` names it in results."""

    key: str
    schema: str  # JSON text
    instances: list[tuple[bool, list[int]]] = field(default_factory=list)


@dataclass
class Options:
    max_tokens: int | None = None  # per instance; longer instances are walked truncated
    remotes: dict[str, Any] | None = None  # bytegram's remotes= (testsuite)
    # "schema" (declared order, every engine) or "any": bytegram property_order="any",
    # xgrammar any_order=True (llguidance and outlines-core have no such option)
    property_order: str = "schema"


def tokenize_tasks(raw: Iterable[tuple[str, Any, list[tuple[bool, Any]]]],
                   encode: Callable[[str], list[int]],
                   max_instances: int | None = None) -> list[Task]:
    """``(key, schema, [(valid, data), ...])`` -> tasks with serialized, tokenized instances."""
    tasks = []
    for key, schema, tests in raw:
        tests = tests if max_instances is None else tests[:max_instances]
        inst = [(bool(valid), encode(serialize(data))) for valid, data in tests]
        tasks.append(Task(key, json.dumps(schema), inst))
    return tasks


def hf_encoder(tokenizer: str) -> Callable[[str], list[int]]:
    from tokenizers import Tokenizer

    from peers import tokenizer_path

    tok = Tokenizer.from_file(str(tokenizer_path(tokenizer)))
    return lambda text: tok.encode(text, add_special_tokens=False).ids


# --------------------------------------------------------------------------- engines

def load_engine(name: str, tokenizer: str, options: Options | None = None):
    """Load one engine for ``tokenizer`` -> ``peers.Engine`` (or raise RuntimeError with the
    reason it is unavailable). xgrammar and outlines-core are given bytegram's end-of-sequence
    ids; llguidance reads its own from tokenizer.json (the same ids on the shipped tokenizers;
    each engine's ids are recorded in the results as ``eos_ids``)."""
    import peers

    options = options or Options()
    path = peers.tokenizer_path(tokenizer)
    t0 = time.perf_counter()
    if name in ("bytegram", "outlines-core"):
        import bytegram

        vocab = bytegram.Vocabulary.from_tokenizer_json(path)
        load = time.perf_counter() - t0
        if name == "bytegram":
            engine = peers.bytegram_engine(vocab, load, json_remotes=options.remotes,
                                           json_property_order=options.property_order)
        else:
            engine = peers.outlines_engine(vocab)
            if engine is not None:
                engine.load_seconds += load
    elif name == "llguidance":
        engine = peers.llguidance_engine(path)
    elif name in ("xgrammar", "xgrammar-ws"):
        import bytegram

        vocab = bytegram.Vocabulary.from_tokenizer_json(path)
        engine = peers.xgrammar_engine(path, vocab.size,
                                       stop_token_ids=[int(e) for e in vocab.eos_ids],
                                       json_any_whitespace=name == "xgrammar-ws",
                                       json_any_order=options.property_order == "any")
        if engine is not None:
            engine.name = name
    else:
        raise RuntimeError(f"unknown engine {name!r} (known: "
                           f"{', '.join(ENGINES + VARIANTS)})")
    if engine is None:
        raise RuntimeError(f"{name} is not installed (pip install -e .[bench])")
    if engine.compile_json_compact is None:
        raise RuntimeError(f"{name} {engine.version} has no JSON Schema support in this build")
    return engine


def engine_version(name: str) -> str:
    import peers

    name = {"xgrammar-ws": "xgrammar"}.get(name, name)
    if name == "bytegram":
        import bytegram

        return bytegram.__version__
    return peers.version_of(name)


# --------------------------------------------------------------------------- walking

def _bit(row: np.ndarray, t: int) -> int:
    return (int(row[t >> 5]) >> (t & 31)) & 1


def walk(m: Any, ids: Sequence[int], eos_ids: Sequence[int], times: list[float],
         max_tokens: int | None = None) -> tuple[bool | None, str]:
    """Walk one instance through a fresh ``PeerMatcher``; append each mask time (seconds) to
    ``times``. -> (verdict, reason): True accepted; False rejected (reason: "mask k",
    "accept k" (bit set but the engine refused the token), "eos", "error: ..."); None when
    the instance was truncated to ``max_tokens`` with every token allowed (no verdict)."""
    row = m.mask
    fill, accept = m.fill, m.accept
    pc = time.perf_counter
    n = len(ids) if max_tokens is None else min(len(ids), max_tokens)
    k = -1
    try:
        for k in range(n):
            t = ids[k]
            t0 = pc()
            fill()
            times.append(pc() - t0)
            if not (int(row[t >> 5]) >> (t & 31)) & 1:
                return False, f"mask {k}"
            if not accept(t):
                return False, f"accept {k}"
        if n < len(ids):
            return None, "truncated"
        t0 = pc()
        fill()
        times.append(pc() - t0)
    except Exception as e:  # an engine refusing mid-walk is a rejection
        return False, f"error at token {k}: {type(e).__name__}: {str(e)[:200]}"
    if not any(_bit(row, e) for e in eos_ids):
        return False, "eos"
    return True, ""


def run_task(engine: Any, task: Task, options: Options) -> dict[str, Any]:
    """Compile and walk one task in ``engine`` -> a result dict (see ``SchemaResult``)."""
    res: dict[str, Any] = {"key": task.key, "status": "ok", "compile_s": None, "error": "",
                           "instances": [], "mask_s": None}
    t0 = time.perf_counter()
    try:
        make = engine.compile_json_compact(task.schema)
        first = make()
    except Exception as e:
        res["status"] = "compile_error"
        res["compile_s"] = time.perf_counter() - t0
        res["error"] = f"{type(e).__name__}: {str(e).strip()[:500]}"
        return res
    res["compile_s"] = time.perf_counter() - t0
    times: list[float] = []
    eos = engine.eos_ids
    for i, (valid, ids) in enumerate(task.instances):
        m = first if i == 0 else make()
        before = len(times)
        verdict, reason = walk(m, ids, eos, times, options.max_tokens)
        res["instances"].append((valid, verdict, reason, len(ids), len(times) - before))
    res["mask_s"] = np.asarray(times, dtype=np.float64)
    return res


# --------------------------------------------------------------------------- worker pool

def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _worker_main(conn: Any, name: str, tokenizer: str, options: Options, log_path: str) -> None:
    # engines print warnings on the C level: keep them out of the benchmark's output
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        engine = load_engine(name, tokenizer, options)
        if "torch" in sys.modules:  # xgrammar imports it; OMP_NUM_THREADS=1 covers the rest
            sys.modules["torch"].set_num_threads(1)
    except Exception as e:
        conn.send(("unavailable", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", {"version": engine.version, "load_s": engine.load_seconds,
                         "eos_ids": list(engine.eos_ids)}))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            res = run_task(engine, task, options)
        except Exception:
            res = {"key": task.key, "status": "crash", "error": traceback.format_exc()[-800:],
                   "compile_s": None, "instances": [], "mask_s": None}
        conn.send(("result", res))


class _Worker:
    def __init__(self, ctx: Any, name: str, tokenizer: str, options: Options,
                 log_dir: str) -> None:
        self.parent, child = ctx.Pipe()
        fd, self.log_path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=log_dir)
        os.close(fd)
        self.proc = ctx.Process(target=_worker_main,
                                args=(child, name, tokenizer, options, self.log_path),
                                daemon=True)
        self.proc.start()
        child.close()
        self.task: Task | None = None
        self.started = 0.0
        self.info: dict[str, Any] | None = None

    def log_tail(self, n: int = 600) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - n))
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.parent.close()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    def stop(self) -> None:
        try:
            self.parent.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(5)
        self.kill()


class EngineUnavailable(RuntimeError):
    pass


def run_engine(name: str, tasks: list[Task], *, tokenizer: str, options: Options, jobs: int,
               timeout: float, mem_limit_gb: float,
               on_result: Callable[[dict[str, Any]], None],
               progress: Callable[[int, int, dict[str, int]], None] | None = None,
               load_timeout: float = 600.0, spare: bool = True) -> dict[str, Any]:
    """Run every task in engine ``name``; call ``on_result`` with each result (in completion
    order). -> engine info (version, load_s, eos_ids). ``jobs=0``: in-process, no timeout.
    With ``spare``, one extra worker is kept loaded so that a killed worker (timeout, memory)
    is replaced at once instead of after a reload. Raises EngineUnavailable when the engine
    cannot be loaded."""
    counts = {"done": 0, "timeout": 0, "memory": 0, "crash": 0}
    if jobs <= 0:
        try:
            engine = load_engine(name, tokenizer, options)
        except RuntimeError as e:
            raise EngineUnavailable(str(e)) from None
        info = {"version": engine.version, "load_s": engine.load_seconds,
                "eos_ids": list(engine.eos_ids)}
        for i, task in enumerate(tasks):
            on_result(run_task(engine, task, options))
            counts["done"] += 1
            if progress:
                progress(i + 1, len(tasks), counts)
        return info

    ctx = mp.get_context("spawn")
    log_dir = tempfile.mkdtemp(prefix="bytegram-bench-")
    limit = mem_limit_gb * 2**30
    pending = list(reversed(tasks))
    loading: list[_Worker] = []
    idle: list[_Worker] = []
    busy: list[_Worker] = []
    info: dict[str, Any] | None = None

    def finish(res: dict[str, Any]) -> None:
        on_result(res)
        counts["done"] += 1
        st = res.get("status")
        if st in counts and st != "done":
            counts[st] += 1

    def fail(w: _Worker, status: str, error: str) -> None:
        assert w.task is not None
        finish({"key": w.task.key, "status": status, "error": error, "compile_s": None,
                "instances": [], "mask_s": None})
        w.task = None

    try:
        while pending or busy:
            # keep jobs workers (plus one loaded spare) while there is work for them
            want = min(jobs, len(pending) + len(busy)) + (1 if spare and pending else 0)
            while len(loading) + len(idle) + len(busy) < want:
                w = _Worker(ctx, name, tokenizer, options, log_dir)
                w.started = time.perf_counter()
                loading.append(w)
            while idle and pending and len(busy) < jobs:
                w = idle.pop(0)
                w.task = pending.pop()
                w.started = time.perf_counter()
                w.parent.send(w.task)
                busy.append(w)
            ready = mpc.wait([w.parent for w in loading + busy], timeout=0.2)
            now = time.perf_counter()
            for w in list(loading):
                if w.parent in ready:
                    try:
                        kind, payload = w.parent.recv()
                    except (EOFError, OSError):
                        kind, payload = "unavailable", f"worker died while loading: " \
                                                       f"{w.log_tail()}"
                    loading.remove(w)
                    if kind == "unavailable":
                        w.kill()
                        raise EngineUnavailable(f"{name}: {payload}")
                    w.info = payload
                    info = info or payload
                    idle.append(w)
                elif now - w.started > load_timeout:
                    tail = w.log_tail()
                    w.kill()
                    raise EngineUnavailable(f"{name}: loading took over {load_timeout:.0f} s "
                                            f"{tail}")
            for w in list(busy):
                drop = False
                if w.parent in ready:
                    try:
                        kind, res = w.parent.recv()
                    except (EOFError, OSError):
                        w.proc.join(1)
                        fail(w, "crash", f"worker died (exit code {w.proc.exitcode}): "
                                         f"{w.log_tail()}")
                        drop = True
                    else:
                        finish(res)
                        w.task = None
                        # a worker that grew large is recycled before it trips the limit
                        drop = _rss_bytes(w.proc.pid) > 0.5 * limit
                elif now - w.started > timeout:
                    fail(w, "timeout", f"over {timeout:g} s")
                    drop = True
                elif _rss_bytes(w.proc.pid) > limit:
                    fail(w, "memory", f"resident memory over {mem_limit_gb:g} GiB")
                    drop = True
                elif not w.proc.is_alive() and not w.parent.poll():
                    fail(w, "crash", f"worker died (exit code {w.proc.exitcode}): "
                                     f"{w.log_tail()}")
                    drop = True
                if w.task is None:
                    busy.remove(w)
                    if drop:
                        w.kill()
                    else:
                        idle.append(w)
            if progress:
                progress(counts["done"], len(tasks), counts)
    finally:
        for w in loading + idle + busy:
            if w in busy or w in loading:
                w.kill()
            else:
                w.stop()
        try:
            os.rmdir(log_dir)
        except OSError:
            pass
    return info or {"version": engine_version(name), "load_s": float("nan"), "eos_ids": []}


def run_engines(engines: list[str], tasks: list[Task], *, tokenizer: str, options: Options,
                jobs: int, timeout: float, mem_limit_gb: float, progress_every: float = 10.0,
                verbose: bool = False) -> tuple[dict, dict, dict, dict]:
    """Every engine in turn over ``tasks`` -> (results per engine {key: result}, engine
    infos, skipped engines {name: reason}, wall seconds per engine)."""
    per_engine: dict[str, dict[str, dict]] = {}
    infos: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    wall: dict[str, float] = {}
    for i, name in enumerate(engines):
        results: dict[str, dict] = {}
        prog = Progress(f"{i + 1}/{len(engines)} {name}", every=progress_every)

        def on_result(res: dict, results: dict = results, name: str = name) -> None:
            results[res["key"]] = res
            if verbose and not task_passes(res):
                why = res.get("error") or first_failure(res)
                print(f"  {name}: {res['key']}: {res['status']}: {why[:300]}",
                      file=sys.stderr, flush=True)

        t0 = time.perf_counter()
        try:
            infos[name] = run_engine(name, tasks, tokenizer=tokenizer, options=options,
                                     jobs=jobs, timeout=timeout, mem_limit_gb=mem_limit_gb,
                                     on_result=on_result, progress=prog)
        except EngineUnavailable as e:
            skipped[name] = str(e)
            print(f"# {name}: skipped: {e}", file=sys.stderr, flush=True)
            continue
        wall[name] = time.perf_counter() - t0
        per_engine[name] = results
    return per_engine, infos, skipped, wall


class Progress:
    """Progress lines on stderr with rate and ETA, at most every ``every`` seconds."""

    def __init__(self, label: str, every: float = 10.0, stream: Any = None) -> None:
        self.label = label
        self.every = every
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.stream = stream or sys.stderr
        self.last_done = -1

    def __call__(self, done: int, total: int, counts: dict[str, int]) -> None:
        now = time.perf_counter()
        if done == self.last_done or done == 0 or (now - self.last < self.every
                                                   and done < total):
            return
        self.last, self.last_done = now, done
        el = now - self.t0
        rate = done / el if el > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else float("nan")
        extra = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "done" and v)
        print(f"[{self.label}] {done}/{total} ({rate:.2f}/s, elapsed {fmt_dur(el)}, "
              f"ETA {fmt_dur(eta)}){'; ' + extra if extra else ''}",
              file=self.stream, flush=True)


def fmt_dur(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(s)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


# --------------------------------------------------------------------------- statistics

def pct(xs: Any, q: float) -> float:
    xs = np.asarray(xs, dtype=np.float64)
    return float(np.percentile(xs, q)) if xs.size else float("nan")


def instance_counts(res: dict[str, Any]) -> dict[str, int]:
    """Correctness counts of one completed task."""
    c = {"valid": 0, "valid_accepted": 0, "invalid": 0, "invalid_rejected": 0,
         "false_accepts": 0, "false_rejects": 0, "undetermined": 0, "inconsistent": 0}
    for valid, verdict, reason, _n, _steps in res.get("instances", []):
        if reason.startswith("accept"):
            c["inconsistent"] += 1
        if verdict is None:
            c["undetermined"] += 1
            continue
        if valid:
            c["valid"] += 1
            c["valid_accepted"] += int(verdict)
            c["false_rejects"] += int(not verdict)
        else:
            c["invalid"] += 1
            c["invalid_rejected"] += int(not verdict)
            c["false_accepts"] += int(verdict)
    return c


def task_passes(res: dict[str, Any]) -> bool:
    """Compiled, finished, no false accept or false reject (undetermined ones are ignored)."""
    if res.get("status") != "ok":
        return False
    c = instance_counts(res)
    return c["false_accepts"] == 0 and c["false_rejects"] == 0


def first_failure(res: dict[str, Any]) -> str:
    for i, (valid, verdict, reason, n, _steps) in enumerate(res.get("instances", [])):
        if verdict is not None and bool(verdict) != bool(valid):
            what = "valid instance rejected" if valid else "invalid instance accepted"
            return f"#{i} {what}" + (f" ({reason}, {n} tokens)" if reason else "")
    return ""


def summarize(results: dict[str, dict[str, Any]], n_tasks: int) -> dict[str, Any]:
    """Aggregate one engine's results (key -> result)."""
    statuses: dict[str, int] = {}
    counts = {k: 0 for k in instance_counts({})}
    compile_s, masks = [], []
    passing = 0
    for res in results.values():
        st = res["status"]
        statuses[st] = statuses.get(st, 0) + 1
        if st == "ok":
            compile_s.append(res["compile_s"])
            for k, v in instance_counts(res).items():
                counts[k] += v
            if res["mask_s"] is not None and len(res["mask_s"]):
                masks.append(res["mask_s"])
            passing += task_passes(res)
    m = np.concatenate(masks) if masks else np.zeros(0)
    c = np.asarray(compile_s)
    return {
        "schemas": n_tasks,
        "compiled": statuses.get("ok", 0),
        "passing": passing,
        "compile_errors": statuses.get("compile_error", 0),
        "timeouts": statuses.get("timeout", 0),
        "memory": statuses.get("memory", 0),
        "crashes": statuses.get("crash", 0),
        **counts,
        "mask_steps": int(m.size),
        "compile_ms": {"p50": pct(c, 50) * 1e3, "p90": pct(c, 90) * 1e3,
                       "p99": pct(c, 99) * 1e3,
                       "max": float(c.max()) * 1e3 if c.size else float("nan"),
                       "total_s": float(c.sum())},
        "mask_us": {"p50": pct(m, 50) * 1e6,
                    "mean": float(m.mean()) * 1e6 if m.size else float("nan"),
                    "p99": pct(m, 99) * 1e6,
                    "max": float(m.max()) * 1e6 if m.size else float("nan"),
                    "total_s": float(m.sum())},
    }


def ratios(base: dict[str, dict[str, Any]], peer: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """bytegram / peer time ratios on the schemas both engines finished (> 1: bytegram is
    slower)."""
    common = [k for k, r in base.items()
              if r["status"] == "ok" and peer.get(k, {}).get("status") == "ok"]
    out: dict[str, Any] = {"schemas": len(common)}
    if not common:
        return out
    bc = np.asarray([base[k]["compile_s"] for k in common])
    pc_ = np.asarray([peer[k]["compile_s"] for k in common])
    bm = [base[k]["mask_s"] for k in common if base[k]["mask_s"] is not None]
    pm = [peer[k]["mask_s"] for k in common if peer[k]["mask_s"] is not None]
    bm = np.concatenate(bm) if bm else np.zeros(0)
    pm = np.concatenate(pm) if pm else np.zeros(0)

    def r(a: float, b: float) -> float:
        return a / b if b > 0 and math.isfinite(a) and math.isfinite(b) else float("nan")

    out["compile_p50"] = r(pct(bc, 50), pct(pc_, 50))
    out["compile_p90"] = r(pct(bc, 90), pct(pc_, 90))
    out["compile_p99"] = r(pct(bc, 99), pct(pc_, 99))
    if bm.size and pm.size:
        out["mask_p50"] = r(pct(bm, 50), pct(pm, 50))
        out["mask_mean"] = r(float(bm.mean()), float(pm.mean()))
        out["mask_p99"] = r(pct(bm, 99), pct(pm, 99))
        out["mask_max"] = r(float(bm.max()), float(pm.max()))
    return out


# --------------------------------------------------------------------------- output

def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "python": platform.python_version(), "platform": platform.platform()}


def versions() -> dict[str, str]:
    import peers

    out = {name: engine_version(name) for name in ENGINES}
    for dist in ("tokenizers", "transformers", "torch", "numpy"):
        out[dist] = peers.version_of(dist)
    return out


def fnum(x: Any, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    return f"{x:,}"


def markdown_summary(summaries: dict[str, dict[str, Any]], unit: str = "schemas") -> str:
    """The per-engine table (correctness, compile and mask time)."""
    names = list(summaries)
    rows = [
        (unit, lambda s: fnum(s["schemas"])),
        ("compiled", lambda s: fnum(s["compiled"])),
        ("passing", lambda s: fnum(s["passing"])),
        ("compile errors", lambda s: fnum(s["compile_errors"])),
        ("timeouts", lambda s: fnum(s["timeouts"])),
        ("memory / crashes", lambda s: f"{s['memory']} / {s['crashes']}"),
        ("valid accepted", lambda s: f"{s['valid_accepted']:,} / {s['valid']:,}"),
        ("invalid rejected", lambda s: f"{s['invalid_rejected']:,} / {s['invalid']:,}"),
        ("false accepts", lambda s: fnum(s["false_accepts"])),
        ("false rejects", lambda s: fnum(s["false_rejects"])),
        ("mask-allowed token refused", lambda s: fnum(s["inconsistent"])),
        ("undetermined (truncated)", lambda s: fnum(s["undetermined"])),
        ("mask steps", lambda s: fnum(s["mask_steps"])),
        ("compile p50 ms", lambda s: fnum(s["compile_ms"]["p50"], 2)),
        ("compile p90 ms", lambda s: fnum(s["compile_ms"]["p90"], 2)),
        ("compile p99 ms", lambda s: fnum(s["compile_ms"]["p99"], 2)),
        ("compile max ms", lambda s: fnum(s["compile_ms"]["max"], 2)),
        ("mask p50 us", lambda s: fnum(s["mask_us"]["p50"])),
        ("mask mean us", lambda s: fnum(s["mask_us"]["mean"])),
        ("mask p99 us", lambda s: fnum(s["mask_us"]["p99"])),
        ("mask max us", lambda s: fnum(s["mask_us"]["max"])),
    ]
    out = ["| metric | " + " | ".join(names) + " |",
           "|:--|" + "--:|" * len(names)]
    for label, fn in rows:
        out.append(f"| {label} | " + " | ".join(fn(summaries[n]) for n in names) + " |")
    return "\n".join(out)


def markdown_ratios(rat: dict[str, dict[str, Any]]) -> str:
    if not rat:
        return ""
    keys = ["compile_p50", "compile_p90", "compile_p99", "mask_p50", "mask_mean", "mask_p99",
            "mask_max"]
    out = ["bytegram time / peer time on the schemas both finished (> 1: bytegram is slower):",
           "", "| peer | schemas | " + " | ".join(keys) + " |",
           "|:--|--:|" + "--:|" * len(keys)]
    for peer, r in rat.items():
        out.append(f"| {peer} | {r.get('schemas', 0):,} | "
                   + " | ".join(fnum(r.get(k), 2) + ("x" if k in r and math.isfinite(r[k])
                                                    else "") for k in keys) + " |")
    return "\n".join(out)


def write_plots(plot_dir: Path, per_engine: dict[str, dict[str, dict[str, Any]]],
                title: str) -> list[Path]:
    """Mask-time and compile-time CDFs per engine (PNG). Needs matplotlib; returns the files
    written, or raises ImportError."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for what, unit, scale, fname in (("mask", "us", 1e6, "mask_cdf.png"),
                                     ("compile", "ms", 1e3, "compile_cdf.png")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, results in per_engine.items():
            if what == "mask":
                arrs = [r["mask_s"] for r in results.values()
                        if r["status"] == "ok" and r["mask_s"] is not None and len(r["mask_s"])]
                xs = np.concatenate(arrs) if arrs else np.zeros(0)
            else:
                xs = np.asarray([r["compile_s"] for r in results.values()
                                 if r["status"] == "ok"])
            if not xs.size:
                continue
            xs = np.sort(xs) * scale
            ys = np.arange(1, xs.size + 1) / xs.size
            ax.step(xs, ys, where="post", label=f"{name} (n={xs.size:,})")
        ax.set_xscale("log")
        ax.set_xlabel(f"{what} time ({unit}, log scale)")
        ax.set_ylabel("fraction ≤ x")
        ax.set_title(f"{title}: {what} time CDF")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        path = plot_dir / fname
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def write_results(path: Path, benchmark: str, argv: list[str] | None, engines: list[str],
                  per_engine: dict[str, dict[str, dict[str, Any]]], infos: dict[str, Any],
                  summaries: dict[str, Any], wall: dict[str, float], skipped: dict[str, str],
                  t_start: float, **fields: Any) -> None:
    """Write a JSON Schema benchmark's results: the common header (date, machine, versions,
    argv, serialization, each engine's configuration and summary) plus ``fields``."""
    from peers import JSON_COMPACT_CONFIG

    out = {
        "benchmark": benchmark,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
        "argv": sys.argv[1:] if argv is None else argv,
        "serialization": SERIALIZATION,
        "config": {n: JSON_COMPACT_CONFIG.get(n, "") for n in engines},
        "engines": {n: {**infos[n], "wall_s": wall[n], "summary": summaries[n]}
                    for n in per_engine},
        "skipped": skipped,
        "wall_s": time.perf_counter() - t_start,
        **fields,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean_nan(out), indent=1, default=json_default))
    print(f"# wrote {path}", file=sys.stderr)


def json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def clean_nan(o: Any) -> Any:
    """NaN/inf -> None, so the JSON is standard."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: clean_nan(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [clean_nan(v) for v in o]
    return o


def schema_row(res: dict[str, Any]) -> dict[str, Any]:
    """A compact per-schema record for the JSON output (no per-token times)."""
    m = res.get("mask_s")
    c = instance_counts(res)
    return {
        "status": res["status"],
        "passing": task_passes(res),
        "compile_ms": res["compile_s"] * 1e3 if res.get("compile_s") is not None else None,
        "mask_steps": int(len(m)) if m is not None else 0,
        "mask_total_ms": float(np.sum(m)) * 1e3 if m is not None and len(m) else 0.0,
        "mask_max_us": float(np.max(m)) * 1e6 if m is not None and len(m) else None,
        "valid": f"{c['valid_accepted']}/{c['valid']}",
        "invalid": f"{c['invalid_rejected']}/{c['invalid']}",
        "error": res.get("error", "")[:300] or first_failure(res),
    }
