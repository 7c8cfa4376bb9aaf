#!/bin/sh
# nvidia-ctk test double (package nvidia-container-toolkit-base): answers --version only.
case "$*" in
  --version | -v)
    echo "NVIDIA Container Toolkit CLI version @VERSION@ (test double)"
    echo "commit: 0000000"
    ;;
  *)
    echo "nvidia-ctk test double: unsupported arguments: $*" >&2
    exit 1
    ;;
esac
