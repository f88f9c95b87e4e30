#!/usr/bin/env bash
# Quick start: set up, bring up a local cluster (a master and two agents on 127.0.0.1)
# and run something real on it. The cluster keeps running: `.venv/bin/infinity cluster down`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/bootstrap.sh

infinity=.venv/bin/infinity
if $infinity cluster status >/dev/null 2>&1; then
    echo "up: a local cluster is already running"
else
    echo "up: starting a local cluster (a master, 2 agents and Marathon on 127.0.0.1)"
    $infinity cluster up --agents 2
fi

echo
echo "up: running a task on it"
# Single quotes on purpose: $(hostname) is expanded by the task's shell on the agent.
$infinity task run --name hello -- 'echo hello from Infinity on $(hostname)'
echo
$infinity task list --all
echo
echo "\$ infinity task log hello"
$infinity task log hello
echo
$infinity cluster status
echo
echo "up: the cluster keeps running; stop it with: .venv/bin/infinity cluster down"
