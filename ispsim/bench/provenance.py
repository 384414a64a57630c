"""Where, when and with what a report was made: date, commit, machine, library versions, command."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git_commit(root: Path = ROOT) -> str:
    """Short commit of the work tree, plus " dirty" when it has uncommitted changes outside
    ``reports/`` (a report being written, by this run or one beside it, is output, not the code
    that made it); "unknown" outside a git checkout (an installed wheel)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10)
        if head.returncode:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!reports"], cwd=root,
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return head.stdout.strip() + (" dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu() -> str:
    if "torch" not in sys.modules:
        return "none"
    torch = sys.modules["torch"]
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "none"


def machine() -> str:
    return f"{os.cpu_count()} cores, {cpu_model()}, GPU {gpu()}"


def provenance(argv: list[str] | None = None, prog: str | None = None) -> dict:
    import numpy

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    cmd = [prog or Path(sys.argv[0]).name] + list(sys.argv[1:] if argv is None else argv)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "machine": machine(),
        "torch": torch_version,
        "numpy": numpy.__version__,
        "command": shlex.join(cmd),
    }


def header_lines(p: dict) -> list[str]:
    return [f"Made {p['date']} at commit `{p['commit']}` on {p['machine']}; torch {p['torch']}, numpy {p['numpy']}.",
            f"Command: `{p['command']}`"]
