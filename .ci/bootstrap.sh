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

# Quiet by design: one line per step here, apt's and pip's output in a log whose path (and
# last lines) are printed only when a step fails.
log=$(mktemp "${TMPDIR:-/tmp}/infinity-bootstrap.XXXXXX.log")
local_debs=()  # built here, removed however the script ends
trap 'status=$?; rm -f "${local_debs[@]}"; ((status)) || rm -f "$log"' EXIT
step() {
    local what=$1 started=$SECONDS status=0
    shift
    printf 'bootstrap: %s ... ' "$what"
    "$@" >>"$log" 2>&1 || status=$?
    if ((status)); then
        echo "FAILED"
        echo "bootstrap: '$*' exited with $status; full log: $log; it ends with:" >&2
        tail -n 25 "$log" >&2
        exit "$status"
    fi
    echo "done ($((SECONDS - started))s)"
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Debian's zookeeper depends on default-jre, the desktop JRE: installed beside it, the package
# headless-jre.sh builds satisfies that with default-jre-headless.
HEADLESS_JRE=infinity-headless-jre

missing=()
for package in "${APT_PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "bootstrap: run as root to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    if [[ " ${missing[*]} " == *" zookeeper "* ]] && ! installed default-jre && ! installed "$HEADLESS_JRE"; then
        deb="$(dirname "$log")/$HEADLESS_JRE.$$.deb"
        step "building $HEADLESS_JRE (zookeeper without the desktop JRE)" bash .ci/headless-jre.sh "$deb"
        local_debs=("$deb")
    fi
    step "apt-get update" $sudo apt-get update -q
    step "installing ${#missing[@]} Debian packages (${missing[*]})" \
        $sudo apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 \
        "${local_debs[@]}" "${missing[@]}"
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
    rm -rf .venv
    step "creating .venv with $python ($("$python" --version 2>&1))" "$python" -m venv .venv
fi

# Reinstall only when the project's metadata changed since the last install.
stamp=.venv/.infinity-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp ]] || [[ $(cat "$stamp") != "$want" ]] || ! .venv/bin/python -c 'import mesos_runtime' 2>/dev/null; then
    step "installing the project and its test tools into .venv (pip)" \
        .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -e '.[test]'
    echo "$want" >"$stamp"
fi
echo "bootstrap: ready ($(.venv/bin/python --version), $(.venv/bin/infinity --help >/dev/null && echo 'infinity CLI installed'))"
