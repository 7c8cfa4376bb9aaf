#!/bin/sh
# Test double of NVIDIA's driver installer NVIDIA-Linux-x86_64-@VERSION@.run (never shipped).
# Run as `sh NVIDIA-Linux-x86_64-@VERSION@.run --silent --dkms [--no-x-check] [--no-opengl-files]
# [--kernel-module-type=open|proprietary]`: like the real one it needs the running kernel's
# headers for a DKMS build, then installs /usr/bin/nvidia-smi and /usr/bin/nvidia-uninstall and
# logs to /var/log/nvidia-installer.log. Flags it does not know are refused (exit 1). A test can
# hold it mid-install with a marker file (@HOLD_MARKER@, see below).
set -eu
VERSION="@VERSION@"
LOG=/var/log/nvidia-installer.log
silent=no
dkms=no
for arg in "$@"; do
  case "$arg" in
    --silent | -s) silent=yes ;;
    --dkms) dkms=yes ;;
    --no-x-check | --no-opengl-files | --no-questions | --ui=none) ;;
    --kernel-module-type=open | --kernel-module-type=proprietary) ;;
    *)
      echo "ERROR: Unrecognized option: '$arg'" >&2
      exit 1
      ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "ERROR: nvidia-installer must be run as root" >&2
  exit 1
fi
[ "$silent" = yes ] || { echo "ERROR: this double only runs with --silent" >&2; exit 1; }
release="$(cat /proc/sys/kernel/osrelease)"
{
  echo "nvidia-installer log file '$LOG'"
  echo "creation time: $(date)"
  echo "installer version: $VERSION (test double)"
  echo "command line: nvidia-installer $*"
} >"$LOG"
if [ ! -d "/lib/modules/$release/build" ] && [ ! -d "/usr/src/linux-headers-$release" ]; then
  msg="ERROR: Unable to find the kernel source tree for the currently running kernel ($release)."
  echo "$msg" >>"$LOG"
  echo "$msg" >&2
  exit 1
fi
echo "-> Kernel source path: '/usr/src/linux-headers-$release'" >>"$LOG"
[ "$dkms" = yes ] && echo "-> Installing DKMS kernel module: nvidia/$VERSION (test double: nothing built)" >>"$LOG"
# A test holds the install here, mid-build, to reboot the host under it: while the marker exists
# the double waits. The marker is under /run, a tmpfs that every boot starts empty, so the install
# that runs again after the reboot goes through; removing the marker releases a held install too.
HOLD="@HOLD_MARKER@"
if [ -e "$HOLD" ]; then
  echo "-> holding the install while $HOLD exists" >>"$LOG"
  while [ -e "$HOLD" ]; do sleep 1; done
fi

cat >/usr/bin/nvidia-smi <<'SMI'
#!/bin/sh
# nvidia-smi test double (installed by the NVIDIA-Linux-x86_64 runfile double): lists the NVIDIA
# display functions sysfs shows as "NVIDIA H200" (the query groundcrew runs, -L, and the table).
VERSION="@VERSION@"
gpus=""
for dev in /sys/bus/pci/devices/*; do
  [ -r "$dev/vendor" ] && [ -r "$dev/class" ] || continue
  [ "$(cat "$dev/vendor")" = 0x10de ] || continue
  case "$(cat "$dev/class")" in 0x03*) gpus="$gpus ${dev##*/}" ;; esac
done
if [ -z "$gpus" ]; then
  echo "No devices were found"
  exit 6
fi
case "$*" in
  "--query-gpu=name,driver_version --format=csv,noheader")
    for gpu in $gpus; do echo "NVIDIA H200, $VERSION"; done
    ;;
  "-L" | "--list-gpus")
    i=0
    for gpu in $gpus; do
      uuid="$(echo "$gpu" | md5sum | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)\(.\{12\}\).*/\1-\2-\3-\4-\5/')"
      echo "GPU $i: NVIDIA H200 (UUID: GPU-$uuid)"
      i=$((i + 1))
    done
    ;;
  "")
    echo "+-----------------------------------------------------------------------------------------+"
    echo "| NVIDIA-SMI $VERSION (test double)          Driver Version: $VERSION                       |"
    echo "|-----------------------------------------+------------------------+----------------------+"
    i=0
    for gpu in $gpus; do
      echo "|   $i  NVIDIA H200                    Off |   $gpu |                    0 |"
      i=$((i + 1))
    done
    echo "+-----------------------------------------+------------------------+----------------------+"
    ;;
  *)
    echo "nvidia-smi test double: unsupported arguments: $*" >&2
    exit 2
    ;;
esac
SMI

cat >/usr/bin/nvidia-uninstall <<'UNINSTALL'
#!/bin/sh
# nvidia-uninstall test double: removes what the runfile double installed, itself included.
set -eu
for arg in "$@"; do
  case "$arg" in
    --silent | -s) ;;
    *)
      echo "ERROR: Unrecognized option: '$arg'" >&2
      exit 1
      ;;
  esac
done
echo "nvidia-uninstall (test double): removing the NVIDIA driver $(date)" >/var/log/nvidia-uninstall.log
rm -f /usr/bin/nvidia-smi /usr/bin/nvidia-uninstall
UNINSTALL
chmod 0755 /usr/bin/nvidia-smi /usr/bin/nvidia-uninstall
echo "-> Installation of the NVIDIA Accelerated Graphics Driver for Linux-x86_64 (version: $VERSION) is now complete." >>"$LOG"
exit 0
