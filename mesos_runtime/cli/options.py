"""Options several `infinity` commands share."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["JsonFlag", "MasterOption"]

MasterOption = Annotated[
    str | None,
    typer.Option(
        "--master",
        envvar="INFINITY_MASTER",
        help="Master host:port, or zk://host:port,.../path to find the leader "
        "[default: the local cluster's, else 127.0.0.1:5050]",
        show_default=False,
    ),
]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
