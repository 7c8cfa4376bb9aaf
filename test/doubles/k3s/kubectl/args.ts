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
  readonly namespace?: string;
  readonly filename?: string;
  readonly patch?: string;
  readonly patchType?: string;
  readonly all: boolean;
  readonly allNamespaces: boolean;
  readonly noHeaders: boolean;
  readonly ignoreNotFound: boolean;
  readonly wait: boolean;
}

type Valued =
  | "kubeconfig"
  | "output"
  | "selector"
  | "waitFor"
  | "timeout"
  | "raw"
  | "namespace"
  | "filename"
  | "patch"
  | "patchType";
type Switch = "all" | "allNamespaces" | "noHeaders" | "ignoreNotFound" | "wait";

const VALUED: Readonly<Record<string, Valued>> = {
  "--kubeconfig": "kubeconfig",
  "-o": "output",
  "--output": "output",
  "-l": "selector",
  "--selector": "selector",
  "--for": "waitFor",
  "--timeout": "timeout",
  "--raw": "raw",
  "-n": "namespace",
  "--namespace": "namespace",
  "-f": "filename",
  "--filename": "filename",
  "-p": "patch",
  "--patch": "patch",
  "--type": "patchType",
};
const SWITCHES: Readonly<Record<string, Switch>> = {
  "--all": "all",
  "-A": "allNamespaces",
  "--all-namespaces": "allNamespaces",
  "--no-headers": "noHeaders",
  "--ignore-not-found": "ignoreNotFound",
  "--wait": "wait",
};

/**
 * Parses kubectl's arguments: flags anywhere, `--flag value`, `--flag=value`,
 * and one-letter flags joined to their value (`-ojson`, `-nkube-system`).
 * Other flags are refused as not implemented.
 */
export function parseKubectlArgs(argv: readonly string[]): KubectlArgs {
  const values: Partial<Record<Valued, string>> = {};
  const switches: Record<Switch, boolean> = {
    all: false,
    allNamespaces: false,
    noHeaders: false,
    ignoreNotFound: false,
    wait: true,
  };
  const positional: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] ?? "";
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    let flag = equals === -1 ? arg : arg.slice(0, equals);
    let inline = equals === -1 ? undefined : arg.slice(equals + 1);
    if (!arg.startsWith("--") && arg.length > 2 && VALUED[arg.slice(0, 2)] !== undefined && arg[2] !== "=") {
      flag = arg.slice(0, 2);
      inline = arg.slice(2);
    }
    const key = VALUED[flag];
    if (key !== undefined) {
      let value = inline;
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
      switches[name] = inline === undefined || inline === "true";
      continue;
    }
    throw new KubectlError(`error: flag ${flag} is not implemented by the test double`);
  }
  const [verb, ...rest] = positional;
  return { verb, positional: rest, ...values, ...switches };
}
