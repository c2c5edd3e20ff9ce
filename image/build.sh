#!/bin/sh
# Build the image from the Containerfile on a machine with no image registry: the
# Debian base tarball (image/base.sh) is imported, pip reaches PyPI through this
# machine's CA bundle, mounted read-only for the build only, on the host's network.
# Usage: image/build.sh BASE.tar IMAGE
set -eu
tarball=$1
image=$2
base=localhost/mailer-base:bookworm
ca=${PIP_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if ! podman image exists "$base"; then
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
  echo "imported $tarball as $base"
fi
set -- --format docker --network host --pull=never --build-arg BASE="$base" --tag "$image"
if [ -f "$ca" ]; then
  set -- "$@" --volume "$ca:/etc/pip-ca.crt:ro" --build-arg PIP_CA=/etc/pip-ca.crt
fi
podman build "$@" --file Containerfile .
podman image inspect --format 'built {{index .RepoTags 0}}: {{.Size}} bytes' "$image"
