#!/bin/sh
# Podman settings for building and running the image on a machine like this one:
# storage, run state and temporary files under FOLDER (nothing in /var/lib), runc
# (crun refuses a cgroup v1 layout), cgroupfs, host networking, and ulimits no
# higher than the host allows. Usage: image/podman.sh FOLDER
set -eu
folder=$1
mkdir -p "$folder/storage" "$folder/run" "$folder/tmp"
cat >"$folder/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$folder/storage"
runroot = "$folder/run"
CONF
cat >"$folder/containers.conf" <<CONF
[containers]
netns = "host"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$folder/tmp"
CONF
echo "podman settings in $folder"
