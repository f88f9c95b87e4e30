"""The `infinity` CLI (typer + rich): reaches the daemons only over HTTP."""
