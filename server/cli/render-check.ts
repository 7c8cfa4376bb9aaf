import { terminalSafe } from "../../shared/terminal-safe.js";
import { CHECK_IDS, type CheckResult } from "../preflight/types.js";
import { renderTable } from "./table.js";

const MARK = { pass: "ok", warn: "WARN", fail: "FAIL" } as const;

/**
 * The `check` report: one row per host, one column per check, then the
 * reason for every warning and failure. Host-supplied text is escaped.
 */
export function renderCheckReport(hosts: readonly string[], results: readonly CheckResult[]): string {
  const cell = (host: string, check: string): string =>
    MARK[results.find((result) => result.host === host && result.check === check)?.status ?? "fail"];
  const table = renderTable(
    ["host", ...CHECK_IDS],
    hosts.map((host) => [terminalSafe(host), ...CHECK_IDS.map((check) => cell(host, check))]),
  );
  const notes = results
    .filter((result) => result.status !== "pass")
    .map(
      (result) =>
        `  ${MARK[result.status]} ${terminalSafe(result.host)} ${result.check}: ${terminalSafe(result.reason)}`,
    );
  const fails = results.filter((result) => result.status === "fail").length;
  const warns = results.filter((result) => result.status === "warn").length;
  const summary =
    fails === 0
      ? `all ${hosts.length} host(s) ready${warns > 0 ? ` (${warns} warning(s))` : ""}`
      : `${fails} check(s) failed, ${warns} warning(s)`;
  return [table, ...(notes.length > 0 ? ["", ...notes] : []), "", summary, ""].join("\n");
}
