import { posix } from "node:path";
import type { FakeExec } from "./fake-exec.js";
import type { FakeFs } from "./fake-fs.js";

export interface FakeUnitHooks {
  /** Runs when the unit starts (start, restart); an Error fails the start with its message on stderr. */
  readonly start?: () => Promise<Error | undefined> | Error | undefined;
  /** Runs when the unit stops (disable --now, stop, restart before starting again). */
  readonly stop?: () => Promise<void> | void;
}

export interface FakeSystemd {
  /** Units running now. */
  readonly active: Set<string>;
  /** Restarts per unit since the fake was made (NRestarts). */
  readonly restarts: Map<string, number>;
}

const UNIT_DIR = "/etc/systemd/system";

/**
 * systemd as `systemctl` shows it, for the units named in `units` (files in
 * /etc/systemd/system): enable makes the WantedBy link the unit asks for and
 * disable removes it; start/restart need the unit file and run the `start`
 * hook; `disable --now` and `stop` run the `stop` hook; is-active answers 0
 * or 3; `show --property NRestarts --value` counts restarts. daemon-reload
 * and reset-failed always succeed. Answers are added to `exec`.
 */
export function fakeSystemd(
  exec: FakeExec,
  fs: FakeFs,
  units: Readonly<Record<string, FakeUnitHooks>>,
): FakeSystemd {
  const active = new Set<string>();
  const restarts = new Map<string, number>();
  exec.answer("systemctl daemon-reload", {});
  exec.answer("systemctl reset-failed", {});

  for (const [unit, hooks] of Object.entries(units)) {
    const file = `${UNIT_DIR}/${unit}`;
    const wantedBy = async (): Promise<string | undefined> => {
      const text = await fs.readTextIfExists(file);
      return text === undefined ? undefined : /^WantedBy=(\S+)$/m.exec(text)?.[1];
    };
    const missing = { code: 5, stderr: `Failed to start ${unit}: Unit ${unit} not found.\n` };
    const stop = async () => {
      if (active.delete(unit)) await hooks.stop?.();
    };
    const start = async () => {
      if ((await fs.stat(file)) === undefined) return missing;
      const failure = await hooks.start?.();
      if (failure !== undefined) return { code: 1, stderr: `${failure.message}\n` };
      active.add(unit);
      return {};
    };

    exec.answer(`systemctl enable ${unit}`, async () => {
      const target = await wantedBy();
      if (target === undefined)
        return { code: 1, stderr: `Failed to enable unit: Unit file ${unit} does not exist.\n` };
      const link = `${UNIT_DIR}/${target}.wants/${unit}`;
      if ((await fs.stat(link)) !== undefined) return {};
      await fs.mkdirp(posix.dirname(link), 0o755);
      // The fake Fs holds text: the link is a file naming its target (as prep-host's masks are).
      await fs.writeFileAtomic(link, `(link to ${file})`, 0o644);
      return { stderr: `Created symlink ${link} → ${file}.\n` };
    });
    exec.answer(`systemctl disable --now ${unit}`, async () => {
      await stop();
      const target = await wantedBy();
      if (target !== undefined) await fs.remove(`${UNIT_DIR}/${target}.wants/${unit}`);
      return {};
    });
    exec.answer(`systemctl stop ${unit}`, async () => {
      await stop();
      return {};
    });
    exec.answer(`systemctl start ${unit}`, async () => (active.has(unit) ? {} : start()));
    exec.answer(`systemctl restart ${unit}`, async () => {
      const wasActive = active.has(unit);
      await stop();
      if (wasActive) restarts.set(unit, (restarts.get(unit) ?? 0) + 1);
      return start();
    });
    exec.answer(`systemctl is-active --quiet ${unit}`, () => ({ code: active.has(unit) ? 0 : 3 }));
    exec.answer(`systemctl show --property NRestarts --value ${unit}`, () => ({
      stdout: `${restarts.get(unit) ?? 0}\n`,
    }));
  }
  return { active, restarts };
}
