import { KubectlError } from "./client.js";

/** The kubectl command line the double understands. */
export interface KubectlArgs {
  readonly verb: string | undefined;
  /** Positional arguments after the verb. */
  readonly positional: readonly string[];
  readonly kubeconfig?: string;
  readonly output?: string;
  readonly selector?: string;
  readonly waitFor?: string;
  readonly timeout?: string;
  readonly raw?: string;
  readonly all: boolean;
  readonly noHeaders: boolean;
  readonly ignoreNotFound: boolean;
}

const VALUED: Readonly<Record<string, keyof KubectlArgs>> = {
  "--kubeconfig": "kubeconfig",
  "-o": "output",
  "--output": "output",
  "-l": "selector",
  "--selector": "selector",
  "--for": "waitFor",
  "--timeout": "timeout",
  "--raw": "raw",
};
const SWITCHES: Readonly<Record<string, "all" | "noHeaders" | "ignoreNotFound">> = {
  "--all": "all",
  "--no-headers": "noHeaders",
  "--ignore-not-found": "ignoreNotFound",
};

/** Parses kubectl's arguments (flags anywhere, `--flag value` or `--flag=value`); other flags are refused. */
export function parseKubectlArgs(argv: readonly string[]): KubectlArgs {
  const values: Record<string, string> = {};
  const switches = { all: false, noHeaders: false, ignoreNotFound: false };
  const positional: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] ?? "";
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    const key = VALUED[flag];
    if (key !== undefined) {
      let value = equals === -1 ? undefined : arg.slice(equals + 1);
      if (value === undefined) {
        index += 1;
        value = argv[index];
      }
      if (value === undefined) throw new KubectlError(`error: flag needs an argument: ${flag}`);
      values[key] = value;
      continue;
    }
    const name = SWITCHES[flag];
    if (name !== undefined) {
      switches[name] = equals === -1 || arg.slice(equals + 1) === "true";
      continue;
    }
    throw new KubectlError(`error: flag ${flag} is not implemented by the test double`);
  }
  const [verb, ...rest] = positional;
  return { verb, positional: rest, ...values, ...switches };
}

/** `node/NAME`, `nodes NAME...` or `nodes`: the node names asked for ([] = all). Other resources are refused. */
export function nodeTargets(positional: readonly string[]): string[] {
  const [first, ...rest] = positional;
  if (first === undefined) throw new KubectlError("error: you must specify the type of resource to get");
  const isNodes = (type: string): boolean => ["node", "nodes", "no"].includes(type);
  if (first.includes("/")) {
    const names = positional.map((item) => {
      const [type = "", name = ""] = item.split("/", 2);
      if (!isNodes(type))
        throw new KubectlError(`error: the resource type "${type}" is not implemented by the test double`);
      return name;
    });
    return names;
  }
  if (!isNodes(first))
    throw new KubectlError(`error: the resource type "${first}" is not implemented by the test double`);
  return rest;
}
