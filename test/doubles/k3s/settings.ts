import { isList, parseBool, parseCommandLine, splitList, type FlagValue } from "./command-line.js";
import { DEFAULT_CONFIG_FILE, readConfigFiles } from "./config-files.js";
import { FatalError } from "./fatal.js";
import { FLAGS, type Role } from "./flags.js";
import { info } from "./log.js";

/**
 * The flag values a `k3s server` / `k3s agent` process runs with. Sources,
 * strongest first (as in k3s): the command line, the environment (K3S_*),
 * then the config files. A repeatable flag takes its whole list from the
 * strongest source that has it.
 */
export class Settings {
  private constructor(
    readonly role: Role,
    private readonly values: ReadonlyMap<string, FlagValue>,
  ) {}

  static async load(role: Role, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Settings> {
    const cli = parseCommandLine(role, args);
    const fromEnv = environmentValues(role, env);
    const named = cli.get("config") ?? fromEnv.get("config");
    const file = typeof named === "string" ? named : DEFAULT_CONFIG_FILE;
    const fromFiles = await readConfigFiles(role, file, typeof named === "string");
    const values = new Map<string, FlagValue>();
    for (const source of [fromFiles, fromEnv, cli]) for (const [key, value] of source) values.set(key, value);
    const settings = new Settings(role, values);
    settings.logIgnored();
    return settings;
  }

  string(name: string): string | undefined {
    const value = this.values.get(name);
    if (value === undefined) return undefined;
    if (typeof value !== "string") throw new FatalError(`--${name}: a single value is expected`);
    return value;
  }

  bool(name: string): boolean {
    const value = this.values.get(name);
    if (value === undefined) return false;
    if (typeof value !== "boolean") throw new FatalError(`--${name}: a boolean is expected`);
    return value;
  }

  list(name: string): readonly string[] {
    const value = this.values.get(name);
    if (value === undefined) return [];
    if (!isList(value)) throw new FatalError(`--${name}: a list is expected`);
    return value;
  }

  private logIgnored(): void {
    for (const key of this.values.keys()) {
      if (FLAGS.get(key)?.used === false)
        info(`Flag --${key} is accepted but has no effect in the test double`);
    }
  }
}

function environmentValues(role: Role, env: NodeJS.ProcessEnv): Map<string, FlagValue> {
  const values = new Map<string, FlagValue>();
  for (const [name, spec] of FLAGS) {
    const text = spec.env === undefined ? undefined : env[spec.env];
    if (text === undefined || text === "" || !spec.roles.includes(role)) continue;
    if (spec.kind === "bool") values.set(name, parseBool(text, spec.env ?? name));
    else if (spec.kind === "list") values.set(name, splitList([text]));
    else values.set(name, text);
  }
  return values;
}
