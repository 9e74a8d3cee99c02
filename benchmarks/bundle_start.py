"""The PyInstaller bundle: its size, and how long ``agentic-server`` takes to answer /api/v1/health.

Cold start = from starting the process to the first 200 from ``GET /api/v1/health``, with a new data
dir each time (so each start creates and migrates its database), against the fake Ollama. The
bundled ``dist/agentic-desktop/agentic-server`` and the source install's ``python -m server`` start
in turns, in the same run; the figure that matters is the ratio of their medians (budget: the bundle
at most 1.5x the source install). Size budget: the unpacked folder under 300 MB.

    python benchmarks/bundle_start.py [--rounds 9] [--bundle dist/agentic-desktop]

Build the bundle first (scripts/build_bundle.sh).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, child_env, free_port, machine
from tests.fakes.ollama import FakeOllamaThread

DEADLINE = 120.0


def folder_size(path: Path) -> int:
    """Bytes in the files under ``path`` (links not followed, not counted twice)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def start_time(command: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ``command`` on a free port to a 200 from /api/v1/health; then stops it."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bundle-start-") as data_dir:
        args = [*command, "--host", "127.0.0.1", "--port", str(port), "--data-dir", data_dir]
        url = f"http://127.0.0.1:{port}/api/v1/health"
        began = time.perf_counter()
        process = subprocess.Popen(
            args, env=env, cwd=data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            with httpx.Client(timeout=2) as client:
                while True:
                    if process.poll() is not None:
                        raise RuntimeError(f"{args[0]} exited with {process.returncode} before serving")
                    if time.perf_counter() - began > DEADLINE:
                        raise RuntimeError(f"{args[0]} not healthy after {DEADLINE}s")
                    try:
                        if client.get(url).status_code == 200:
                            return time.perf_counter() - began
                    except httpx.TransportError:
                        pass
                    time.sleep(0.01)
        finally:
            process.terminate()
            if process.wait(timeout=30) != 0:
                raise RuntimeError(f"{args[0]} exited with {process.returncode} on SIGTERM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="starts of each, interleaved")
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "agentic-desktop")
    options = parser.parse_args()
    bundled = options.bundle / "agentic-server"
    if not bundled.exists():
        sys.exit(f"{bundled} is missing: build it with scripts/build_bundle.sh")

    size = folder_size(options.bundle)
    internal = options.bundle / "_internal"
    biggest = sorted(
        (
            (folder_size(p) if p.is_dir() else p.stat().st_size, p.name)
            for p in internal.iterdir()
            if not p.is_symlink()
        ),
        reverse=True,
    )[:6]

    with FakeOllamaThread() as ollama:
        env = child_env(OLLAMA_HOST=ollama.url, AGENTIC_VAULT_BACKEND="file")
        commands = {"bundle": [str(bundled)], "source": [sys.executable, "-m", "server"]}
        times: dict[str, list[float]] = {name: [] for name in commands}
        start_time(commands["source"], env)  # warm the page cache for both, untimed
        start_time(commands["bundle"], env)
        for round_number in range(options.rounds):
            order = list(commands) if round_number % 2 == 0 else list(reversed(commands))
            for name in order:
                times[name].append(start_time(commands[name], env))

    median = {name: statistics.median(samples) for name, samples in times.items()}
    ratio = median["bundle"] / median["source"]
    print(f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine()}")
    print()
    print(f"bundle size: {size / 2**20:.0f} MB unpacked in {options.bundle}   (budget < 300 MB)")
    print("  largest in _internal: " + ", ".join(f"{name} {n / 2**20:.0f} MB" for n, name in biggest))
    for name, samples in times.items():
        shown = " ".join(f"{s:.2f}" for s in samples)
        print(f"start to healthy, {name:6}: median {median[name]:.2f} s over {len(samples)} starts ({shown})")
    print(f"bundle / source: {ratio:.2f}x   (budget <= 1.5x)")


if __name__ == "__main__":
    main()
