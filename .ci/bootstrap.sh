#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian 12 (as root): the system packages Infinity needs,
# then `.venv` at the repository root with the project installed editable (+ test extras).
# Re-running changes nothing when everything is already in place.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

# Every Debian package any part of the project needs: one list, add to it here.
APT_PACKAGES=(
    python3
    python3-venv
    python3-pip
    procps
    zookeeper
    default-jre-headless
    maven
    # Ansible rollout: SSH to hosts; podman test hosts from a debootstrapped base image
    openssh-client
    podman
    runc
    debootstrap
    # docker containerizer: podman's --init, and the tests' tiny image (docs/containers.md)
    catatonit
    busybox-static
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "bootstrap: run as root to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "bootstrap: installing ${missing[*]}"
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The system's Python 3 (>= 3.11): Debian 12 ships 3.11.
python="${PYTHON:-}"
if [[ -z $python ]]; then
    for candidate in /usr/bin/python3 python3; do
        if command -v "$candidate" >/dev/null; then python=$(command -v "$candidate"); break; fi
    done
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bootstrap: $python is $("$python" --version 2>&1); Infinity needs Python >= 3.11" >&2
    exit 1
fi

if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bootstrap: creating .venv with $python ($("$python" --version 2>&1))"
    rm -rf .venv
    "$python" -m venv .venv
fi

# Reinstall only when the project's metadata changed since the last install.
stamp=.venv/.infinity-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp ]] || [[ $(cat "$stamp") != "$want" ]] || ! .venv/bin/python -c 'import mesos_runtime' 2>/dev/null; then
    echo "bootstrap: installing the project into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    echo "$want" >"$stamp"
fi
echo "bootstrap: ready ($(.venv/bin/python --version), $(.venv/bin/infinity --help >/dev/null && echo 'infinity CLI installed'))"
