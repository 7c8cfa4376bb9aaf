import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { messageOf } from "./fatal.js";
import { warn } from "./log.js";

const run = promisify(execFile);

/**
 * Tells systemd the service is ready (for units with Type=notify, as k3s's
 * installer writes them), as k3s does once it serves. Node cannot send on
 * the unix datagram socket itself, so systemd-notify sends READY=1 on
 * behalf of this process (root may name another PID as the sender). Does
 * nothing outside a notify unit; a failure is logged only.
 */
export async function notifyReady(): Promise<void> {
  if (process.env["NOTIFY_SOCKET"] === undefined) return;
  try {
    await run("systemd-notify", [`--pid=${process.pid}`, "--ready"], {
      env: { ...process.env, PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    });
  } catch (error) {
    warn(`Could not notify systemd of readiness: ${messageOf(error)}`);
  }
}
