"""What every benchmark report says about the machine it ran on, and the clean engine
set-up every benchmark measures (whatever the shell running it has set)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from aiops.config import DataDir


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("AMD EPYC ..."), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown"


def load_average() -> str:
    """The 1-minute load average, one decimal ("unknown" where the system has none):
    other work on a shared machine slows every number a report gives."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def fresh_data_dir(path: Path) -> DataDir:
    """A data dir at ``path`` with the engine's default settings, whatever the shell says.

    ``DataDir.from_env`` honours ``AIOPS_DATABASE_URL`` and the settings switches: with a
    database URL in the environment every run of a benchmark would share one database
    (a method "without" tickets would see what an earlier run learned from them), and a
    switch would change the engine measured without the report saying so.
    """
    return DataDir(path=path)


def engine_env() -> dict[str, str]:
    """The environment for an ``aiops`` subprocess a benchmark times: this one without
    any ``AIOPS_*`` setting, for the reason ``fresh_data_dir`` gives."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIOPS_")}
