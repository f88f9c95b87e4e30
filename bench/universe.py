"""What the universe's own work costs, apart from the services: verifying artifacts (by
Maven against the lock, from the cache, unpacked), building a mirror, rendering a
package, and driving plan steps through the SDK's state machine.

    .venv/bin/python -m bench.universe [--rounds 3] [--skip-spark] [--json]

Uses the real artifact cache (~/.cache/infinity) and Maven's (~/.m2): run the universe
tests (or `infinity mirror build`) once first so that nothing is downloaded while timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.allocator import load, machine
from mesos_runtime.sdk.context import launches, preview_peers
from mesos_runtime.sdk.plans import build_plan
from mesos_runtime.universe.artifacts import ArtifactStore
from mesos_runtime.universe.mirror import artifact_refs, build_mirror
from mesos_runtime.universe.options import resolve
from mesos_runtime.universe.package import load_package
from mesos_runtime.universe.paths import UniversePaths
from mesos_runtime.universe.render import Renderer, ServiceIdentity, render_preview

PACKAGES = Path(__file__).resolve().parents[1] / "packages"


def median_seconds(action: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def drive_update_plan(spec: Any) -> int:
    plan = build_plan(spec, "update")
    steps = 0
    while candidates := plan.candidates():
        step = candidates[0]
        step.prepare()
        step.launch()
        step.running()
        step.complete()
        steps += 1
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-spark", action="store_true", help="Skip the 434 MB sdist.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    store = ArtifactStore(UniversePaths.from_env())
    kafka = load_package(PACKAGES / "kafka")
    lib = kafka.manifest.artifact("lib")
    store.unpack(kafka, lib)  # fill the cache before timing
    figures: dict[str, float] = {}
    figures["kafka lib: Maven resolve + check 93 files vs lock (s)"] = median_seconds(
        lambda: store.check_source(kafka, lib), args.rounds
    )
    figures["kafka lib: cached packed tar re-verified, 56 MB (s)"] = median_seconds(
        lambda: store.fetch(kafka, lib), args.rounds * 3
    )
    figures["kafka lib: unpacked library re-checked file by file (s)"] = median_seconds(
        lambda: store.unpack(kafka, lib), args.rounds * 3
    )
    with tempfile.TemporaryDirectory() as tmp:
        figures["mirror build kafka from the cache (s)"] = median_seconds(
            lambda: build_mirror([kafka], store, Path(tmp) / "mirror"), args.rounds
        )
    if not args.skip_spark:
        spark = load_package(PACKAGES / "spark")
        dist = spark.manifest.artifact("distribution")
        store.fetch(spark, dist)
        figures["spark sdist: cached 434 MB re-verified (s)"] = median_seconds(
            lambda: store.fetch(spark, dist), args.rounds
        )
    options = resolve(kafka.schema)
    service = ServiceIdentity(name="kafka", uid=str(uuid.uuid4()))
    refs = artifact_refs(kafka)
    render_rounds = 20 * args.rounds
    figures["kafka: describe --render's work, templates compiled anew (ms)"] = (
        1000 * median_seconds(lambda: render_preview(kafka, options, service, refs), render_rounds)
    )
    renderer = Renderer(kafka)
    figures["kafka: spec rendered + checked, warm Renderer (ms)"] = 1000 * median_seconds(
        lambda: renderer.spec(options, service, refs), render_rounds
    )
    spec = renderer.spec(options, service, refs).spec
    launch = launches(spec, preview_peers(spec))[0]
    figures["kafka: one broker's configs at launch, warm Renderer (ms)"] = 1000 * median_seconds(
        lambda: renderer.configs(options, service, launch), render_rounds * 10
    )
    plans = 200 * args.rounds
    start = time.perf_counter()
    steps = sum(drive_update_plan(spec) for _ in range(plans))
    figures["sdk: update plan step, candidates + 4 moves (us)"] = (
        1e6 * (time.perf_counter() - start) / steps
    )
    if args.json:
        print(json.dumps({"machine": machine(), "figures": figures, "after": load()}, indent=2))
        return
    print(machine())
    for name, value in figures.items():
        print(f"{value:10.3f}  {name}")
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
