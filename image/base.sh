#!/bin/sh
# The image's base: Debian bookworm with Python 3.11 (slim: no docs, man pages or
# locales), made by mmdebstrap from this machine's own Debian mirror, so no image
# registry is needed. Kept as a tarball: later builds reuse it. Usage: image/base.sh OUT.tar
set -eu
out=$1
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
mkdir -p "$(dirname "$out")"
mmdebstrap --quiet --variant=minbase --format=tar --aptopt='APT::Install-Recommends "false"' \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include=ca-certificates,python3,python3-venv \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  bookworm "$out.partial" "$sources"
mv "$out.partial" "$out"
ls -l "$out"
