#!/bin/sh
# Test double in front of procps' sysctl (never shipped): installed as /usr/local/sbin/sysctl,
# which comes before /usr/sbin on systemd's PATH, so the groundcrew agent's `sysctl -p FILE`
# (host.sysctl's apply, after it wrote FILE) runs this first. While the hold marker exists it
# holds, so a test can act on a host whose agent is in the middle of a step (kill the agent,
# kill the provisioner, reboot, cut the network, clone the identity); then it runs the real
# sysctl. The marker is under /run, a tmpfs every boot starts empty: a reboot releases the hold,
# and so does removing the marker. Every other sysctl call goes straight through.
HOLD=/run/groundcrew-test-hold/sysctl
STATE=/run/groundcrew-test-hold/holding
if [ "${1:-}" = "-p" ] && [ -e "$HOLD" ]; then
  echo "$$" >"$STATE"
  while [ -e "$HOLD" ]; do sleep 0.2; done
  rm -f "$STATE"
fi
exec /usr/sbin/sysctl "$@"
