import path from "node:path";
import { Secret } from "../../shared/secret.js";
import { addressProblem, ifaceProblem, nodeNameProblem } from "./checks.js";
import type { HostDraft, Located } from "./draft.js";
import type { Problems } from "./problems.js";
import type { Inventory, InventoryDeps, InventoryHost, SudoSettings } from "./types.js";

/** What a check may need besides the draft: the inventory's path and format, the deps, the sink. */
export interface CheckContext {
  readonly file: string;
  readonly format: Inventory["format"];
  readonly deps: InventoryDeps;
  readonly problems: Problems;
}

/**
 * Where a path written in the inventory points: "~" and "~/..." expand to
 * the home directory, relative paths are taken from the inventory's folder.
 * Undefined, reported, for "~user/..." (another user's home).
 */
export function resolvePath(written: Located<string>, context: CheckContext): string | undefined {
  const { value, line } = written;
  if (value === "~" || value.startsWith("~/")) return path.join(context.deps.homeDir, value.slice(1));
  if (value.startsWith("~")) {
    context.problems.add(
      line,
      `${JSON.stringify(value)}: "~user" paths are not supported; write the full path`,
    );
    return undefined;
  }
  return path.resolve(path.dirname(context.file), value);
}

/** Resolves a path and reports it when it names no file. */
export function existingFile(
  written: Located<string>,
  what: string,
  context: CheckContext,
): string | undefined {
  const resolved = resolvePath(written, context);
  if (resolved !== undefined && !context.deps.fileExists(resolved)) {
    context.problems.add(written.line, `${what} ${resolved} does not exist`);
  }
  return resolved;
}

/** One host with defaults applied; value problems are reported at the line that set the value. */
export function finishHost(draft: HostDraft, context: CheckContext): InventoryHost {
  const { name, fields } = draft;
  const { problems, deps } = context;
  const check = (
    located: Located<string> | undefined,
    problem: (value: string) => string | undefined,
  ): void => {
    const message = located === undefined ? undefined : problem(located.value);
    if (located !== undefined && message !== undefined) problems.add(located.line, message);
  };
  check(name, nodeNameProblem);
  check(fields.address ?? name, addressProblem);
  check(fields.iface, ifaceProblem);
  const user = fields.user?.value ?? deps.env["USER"];
  if (user === undefined || user === "") {
    const setting = context.format === "ini" ? "ansible_user" : "user (on the host or under defaults)";
    problems.add(name.line, `host ${JSON.stringify(name.value)} has no SSH user: set ${setting}`);
  }
  const keyFile = fields.key === undefined ? undefined : existingFile(fields.key, "key file", context);
  return {
    name: name.value,
    address: fields.address?.value ?? name.value,
    ssh: {
      user: user ?? "",
      port: fields.port?.value ?? 22,
      ...(keyFile === undefined ? {} : { keyFile }),
      useAgent: keyFile === undefined,
    },
    sudo: withEnvPassword(fields.sudo?.value ?? { mode: "passwordless" }, deps.env),
    role: fields.role?.value ?? "worker",
    depot: fields.depot?.value ?? false,
    vars: {
      ...(fields.iface === undefined ? {} : { iface: fields.iface.value }),
      gpu: fields.gpu?.value ?? false,
      labels: fields.labels?.value ?? {},
      taints: fields.taints?.value ?? [],
      installDocker: fields.installDocker?.value ?? false,
      installNvidiaDriver: fields.installNvidiaDriver?.value ?? false,
    },
    groups: fields.groups?.value ?? [],
    source: { file: context.file, line: name.line },
  };
}

/** Takes the password from `passwordEnv` when that variable is set (a missing one is no error here). */
function withEnvPassword(sudo: SudoSettings, env: InventoryDeps["env"]): SudoSettings {
  if (sudo.mode !== "password" || sudo.passwordEnv === undefined) return sudo;
  const value = env[sudo.passwordEnv];
  return value === undefined || value === "" ? sudo : { ...sudo, value: new Secret(value) };
}
