import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Exec, ExecOptions, ExecResult } from "../../shared/host-io.js";
import { depotConfig, startDepotService } from "../../server/deploy/depot-service.js";
import { DEPOT_UNIT_NAME } from "../../server/deploy/layout.js";

/**
 * The depot reads the agent's certificate once, at start: it is restarted
 * when the agent (binary or TLS files) changed, and otherwise left alone so
 * fetches in flight are not cut for nothing.
 */

interface FakeRoot extends Exec {
  readonly restarts: () => number;
}

/** A root shell over an in-memory file system that knows the commands startDepotService runs. */
function fakeRoot(active: boolean): FakeRoot {
  const files = new Map<string, string>();
  let restarts = 0;
  const ok: ExecResult = { code: 0, stdout: "", stderr: "" };
  return {
    restarts: () => restarts,
    run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
      const target = argv.at(-1) ?? "";
      if (argv[0] === "sha256sum") {
        const content = files.get(target);
        return Promise.resolve(
          content === undefined
            ? { code: 1, stdout: "", stderr: "no such file" }
            : { ...ok, stdout: `${createHash("sha256").update(content).digest("hex")}  ${target}\n` },
        );
      }
      if (argv[0] === "install") files.set(target, options?.input ?? "");
      if (argv.join(" ") === `systemctl is-active --quiet ${DEPOT_UNIT_NAME}`) {
        return Promise.resolve(active ? ok : { code: 3, stdout: "", stderr: "" });
      }
      if (argv.join(" ") === `systemctl restart ${DEPOT_UNIT_NAME}`) restarts += 1;
      return Promise.resolve(ok);
    },
  };
}

describe("startDepotService restarts the depot only when it must", () => {
  const config = depotConfig(["node1", "node2"]);

  it("restarts a running depot whose agent got a new certificate or binary, and leaves it alone otherwise", async () => {
    const root = fakeRoot(true);
    await startDepotService(root, "node1", config, false);
    expect(root.restarts()).toBe(1); // first install: its config and unit were written
    await startDepotService(root, "node1", config, false);
    expect(root.restarts()).toBe(1); // nothing changed, and it runs
    await startDepotService(root, "node1", config, true);
    expect(root.restarts()).toBe(2); // the agent's certificate was replaced
  });

  it("starts a depot that is not running even when nothing changed", async () => {
    const root = fakeRoot(false);
    await startDepotService(root, "node1", config, false);
    await startDepotService(root, "node1", config, false);
    expect(root.restarts()).toBe(2);
  });
});
