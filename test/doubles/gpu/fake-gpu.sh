#!/bin/sh
# Test double of a GPU host's sysfs (never shipped): one NVIDIA H200-like PCI function
# (vendor 0x10de, class 0x030200: 3D controller) at 0000:65:00.0, in a tmpfs over
# /sys/bus/pci/devices. Lab machines share the build host's kernel, which has no such device.
# Idempotent: run at every boot by groundcrew-test-fake-gpu.service, as a real GPU host's sysfs is
# there at boot; a tmpfs mount does not outlive the container's restart.
set -eu
DEVICES=/sys/bus/pci/devices
GPU=0000:65:00.0
mountpoint -q "$DEVICES" || mount -t tmpfs -o mode=0755,size=1m groundcrew-fake-pci "$DEVICES"
mkdir -p "$DEVICES/$GPU"
echo 0x10de >"$DEVICES/$GPU/vendor"
echo 0x2335 >"$DEVICES/$GPU/device"
echo 0x030200 >"$DEVICES/$GPU/class"
