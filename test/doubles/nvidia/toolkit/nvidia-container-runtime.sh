#!/bin/sh
# nvidia-container-runtime test double (package nvidia-container-toolkit-base): k3s only looks
# for it on its PATH; no container is ever run through it in the lab.
case "$*" in
  --version | -v) echo "NVIDIA Container Runtime version @VERSION@ (test double)" ;;
  *)
    echo "nvidia-container-runtime test double: cannot run containers" >&2
    exit 1
    ;;
esac
