#!/bin/sh
# nvidia-container-cli test double (package libnvidia-container-tools).
case "$*" in
  --version | -V) echo "cli-version: @VERSION@ (test double)" ;;
  info) nvidia-smi ;;
  *)
    echo "nvidia-container-cli test double: unsupported arguments: $*" >&2
    exit 1
    ;;
esac
