"""`infinity <spark service> submit [spark-submit options] APP [ARGS]`: Spark's own
`spark-submit`, from the package's verified distribution, against the service's masters
(its `master` endpoint); the driver runs here (client mode) and its output streams through.
"""

from __future__ import annotations

import os
import subprocess
from typing import Annotated

import typer

from mesos_runtime.universe.artifacts import ArtifactStore

from .catalog import find, paths, universe_errors
from .output import CliError, err, fail

__all__ = ["submit"]


def _distribution_version(service: str) -> str | None:
    """The Spark package version the service runs, from its record (else the newest)."""
    from mesos_runtime.universe.install import ServiceRecord

    from .install import _marathon  # the service's Marathon

    try:
        app = _marathon().app(service)
    except CliError:  # no Marathon reachable: the newest package
        return None
    record = ServiceRecord.from_labels(dict(app.get("labels") or {})) if app else None
    if record is not None and record.package != "spark":
        fail(f"{service} runs package {record.package}, not spark: nothing to submit to")
    return record.package_version if record else None


def submit(
    ctx: typer.Context,
    master: Annotated[
        str | None,
        typer.Option("--spark-master", help="spark://host:port,... [default: the service's]."),
    ] = None,
) -> None:
    """Run an application on the service's Spark cluster; the driver's output streams here.
    Everything after the options is spark-submit's: its options, the application, its args."""
    args = list(ctx.args)
    if not args:
        fail("usage: infinity <spark service> submit [spark-submit options] APP [ARGS]")
    service = ctx.find_root().obj
    if not isinstance(service, str):
        fail("usage: infinity <spark service> submit APP [ARGS]")
    if master is None:
        from .service import scheduler  # the service's scheduler: its master endpoint

        addresses = scheduler(ctx).get("/v1/endpoints/master").get("address") or []
        if not addresses:
            fail(f"{service}: the master endpoint lists no address yet (is it deployed?)")
        master = "spark://" + ",".join(addresses)
    package = find("spark", _distribution_version(service))
    with universe_errors():
        tree = ArtifactStore(paths()).unpack(package, package.manifest.artifact("distribution"))
    dist = tree / f"pyspark-{package.manifest.upstream_version}"
    home = dist / "deps"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "MESOS_"))}
    env["SPARK_HOME"] = str(home)
    env.setdefault("PYSPARK_PYTHON", "python3")
    # the driver's PySpark and py4j: the distribution's own zips
    zips = [str(z) for z in sorted((dist / "lib").glob("*.zip"))]
    env["PYTHONPATH"] = ":".join([*zips, *filter(None, [os.environ.get("PYTHONPATH")])])
    host = master.removeprefix("spark://").split(",")[0].rsplit(":", 1)[0]
    # the executors reach the driver back at an address of the masters' side of loopback
    command = [str(home / "bin" / "spark-submit"), "--master", master]
    if host.startswith("127."):
        command += ["--conf", "spark.driver.host=127.0.0.1"]
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    command += args
    err.print(f"spark-submit to {master}", markup=False)
    try:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=False)
    except OSError as e:
        fail(f"cannot run spark-submit: {e}")
    if done.returncode != 0:
        fail(f"the application exited with status {done.returncode}", code=done.returncode)
