"""Building a store: serial, a process pool, or a Dask cluster; resumable; failures recorded."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .generators import make_sample
from .recipe import Recipe
from .store import DatasetStore

# Bad scenes raise these (ispsim's errors are ValueErrors); anything else is a bug and stops the build.
SAMPLE_ERRORS = (ValueError, OSError, TypeError)


@dataclass
class BuildReport:
    built: int = 0
    skipped: int = 0
    repaired: int = 0  # damaged samples or metadata found on resume and made again
    failed: list = field(default_factory=list)  # (split, index, error)
    seconds: float = 0.0
    nbytes: int = 0

    @property
    def samples_per_s(self):
        return self.built / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self):
        return self.nbytes / 1e6 / self.seconds if self.seconds else 0.0


@functools.lru_cache(maxsize=4)
def _open(path: str) -> DatasetStore:
    return DatasetStore(path)


def build_sample(path: str, split: str, index: int, one_thread: bool = False):
    """Build one sample into the store at ``path``: the unit of work of every executor.

    ``one_thread``: in worker processes, one kernel thread each (Numba's setting is per calling
    thread, and Dask runs tasks on its own threads, so it is set here).
    """
    if one_thread:
        _single_thread_kernels()
    store = _open(path)
    try:
        arrays, params = make_sample(store.recipe, store.size_name, split, index)
    except SAMPLE_ERRORS as e:
        msg = f"{type(e).__name__}: {e}"
        store.record_failure(split, index, msg)
        return split, index, False, msg, 0
    return split, index, True, "", store.write_sample(split, index, arrays, params)


def _single_thread_kernels():
    # Workers are processes; their kernels must not also start one thread per core.
    import numba

    numba.set_num_threads(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _pool_context():
    """fork where it is safe (workers start at once, imports shared), else spawn.

    Forking is unsafe once Numba's OpenMP/TBB threads run in this process, and needs POSIX.
    """
    import multiprocessing as mp

    try:
        from numba.np.ufunc import parallel

        threads_running = parallel._is_initialized
    except (ImportError, AttributeError):
        threads_running = True
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods and not threads_running else "spawn")


def build(recipe: Recipe, out: str | Path, size: str = "quick", *, workers: int = 1, dask: str | None = None,
          progress: bool = True, allow_large: bool = False) -> BuildReport:
    """Build (or resume) ``recipe`` at ``size`` into the store ``out``."""
    from tqdm import tqdm

    from .generators import scene_plan
    from .recipe import check_size

    if workers < 1:
        raise ConfigError(f"--workers {workers}: expected at least 1")
    nbytes = check_size(recipe, size, allow_large=allow_large)
    if progress:
        print(f"{recipe.name}/{size}: {sum(recipe.size(size).counts.values()) * len(recipe.cameras)} samples, "
              f"about {nbytes / 1e6:.0f} MB before compression", file=sys.stderr)

    # Up front, once: a missing scene folder or too few scenes for the splits (no store is made).
    scene_plan(recipe, recipe.size(size))
    with build_lock(Path(out)):
        return _build_locked(recipe, out, size, workers, dask, progress, tqdm)


@contextlib.contextmanager
def build_lock(out: Path):
    """One build per store at a time: an exclusive ``fcntl`` lock on ``.<store>.lock`` beside it,
    released when the process ends however it ends. A second build waits and says whose it is.
    Dask and pool workers write disjoint chunks under their coordinator's lock."""
    import fcntl

    out.parent.mkdir(parents=True, exist_ok=True)
    lock = out.parent / f".{out.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            # the holder writes its pid just after it locks: a pid read in between is its predecessor's
            who = f"pid {holder}" if holder.isdigit() and _alive(int(holder)) else "another process"
            print(f"{out}: another build holds {lock} ({who}); waiting for it to finish", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build_locked(recipe, out, size, workers, dask, progress, tqdm) -> BuildReport:
    store = DatasetStore.create_or_open(out, recipe, size)
    path = str(Path(out).resolve())
    repaired = store.repair()  # what a skipped sample would hide: damaged chunks, markers, metadata
    for line in repaired:
        print(f"{out}: {line}", file=sys.stderr)
    todo = store.pending()
    total = sum(store.counts.values())
    report = BuildReport(skipped=total - len(todo), repaired=len(repaired))
    bar = tqdm(total=total, initial=report.skipped, unit="sample", desc=f"build {recipe.name}/{size}",
               disable=not progress, file=sys.stderr, smoothing=0.1)
    t0 = time.perf_counter()

    def collect(result):
        split, index, ok, msg, nbytes = result
        if ok:
            report.built += 1
            report.nbytes += nbytes
        else:
            report.failed.append((split, index, msg))
            bar.write(f"FAILED {split}/{index}: {msg}")
        bar.update(1)
        elapsed = time.perf_counter() - t0
        bar.set_postfix_str(f"{report.nbytes / 1e6 / max(elapsed, 1e-9):.1f} MB/s")

    if dask:
        _build_dask(path, todo, dask, workers, collect)
    elif workers > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers, mp_context=_pool_context()) as ex:
            futures = [ex.submit(build_sample, path, s, i, True) for s, i in todo]
            for f in as_completed(futures):
                collect(f.result())
    else:
        for s, i in todo:
            collect(build_sample(path, s, i))
    bar.close()
    report.seconds = time.perf_counter() - t0
    return report


def _build_dask(path, todo, address, workers, collect):
    from dask.distributed import Client, LocalCluster, as_completed

    if address == "local":
        cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        cluster, client = None, Client(address)
    try:
        n = len(todo)
        futures = client.map(build_sample, [path] * n, [s for s, _ in todo], [i for _, i in todo], [True] * n, pure=False)
        for f in as_completed(futures):
            collect(f.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
