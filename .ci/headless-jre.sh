#!/usr/bin/env bash
# Build `infinity-headless-jre.deb` at $1: a package that provides `default-jre` and depends
# on `default-jre-headless`. Debian's zookeeper depends on default-jre, the desktop JRE
# (openjdk-17-jre: X11, GTK, fonts, ~75 packages more); a server needs only the headless one,
# and with this package installed beside it apt takes the headless JRE (equivs-style).
set -euo pipefail

out=${1:?usage: headless-jre.sh OUT.deb}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<'CONTROL'
Package: infinity-headless-jre
Version: 1.0
Architecture: all
Maintainer: Infinity <infinity@localhost>
Depends: default-jre-headless
Provides: default-jre
Section: java
Priority: optional
Description: the headless JRE standing in for default-jre
 Lets Debian's zookeeper package install on a server without the desktop JRE.
CONTROL
dpkg-deb --root-owner-group --build "$root" "$out"
