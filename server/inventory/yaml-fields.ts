import { Secret } from "../../shared/secret.js";
import { envNameProblem, labelKeyProblem, labelValueProblem, mirrorProblem, taintProblem } from "./checks.js";
import type { Fields } from "./draft.js";
import type { SudoSettings } from "./types.js";
import { asBoolean, asPort, asText } from "./values.js";
import type { Entry, YamlNodes } from "./yaml-nodes.js";

/** Decodes one YAML value node whose key is on `line`; reports and returns undefined when it is bad. */
export type Decoder<T> = (y: YamlNodes, node: unknown, line: number) => T | undefined;
export type Decoders<V> = { readonly [K in keyof V]-?: Decoder<V[K]> };

/** Decodes each entry with its key's decoder; keys must already be known (YamlNodes.entries). */
export function readFields<V>(y: YamlNodes, entries: readonly Entry[], decoders: Decoders<V>): Fields<V> {
  const fields: Fields<V> = {};
  const isKey = (key: string): key is Extract<keyof V, string> => Object.hasOwn(decoders, key);
  for (const entry of entries) {
    if (isKey(entry.key)) readField(fields, entry.key, decoders[entry.key](y, entry.node, entry.line), entry);
  }
  return fields;
}

function readField<V, K extends keyof V>(
  fields: Fields<V>,
  key: K,
  value: V[K] | undefined,
  entry: Entry,
): void {
  if (value !== undefined) fields[key] = { value, line: entry.line };
}

const report = (y: YamlNodes, line: number) => (message: string) => {
  y.problems.add(line, message);
};

export const text =
  (what: string): Decoder<string> =>
  (y, node, line) =>
    asText(y.raw(node), what, report(y, line));
export const port =
  (what: string): Decoder<number> =>
  (y, node, line) =>
    asPort(y.raw(node), what, report(y, line));
export const bool =
  (what: string): Decoder<boolean> =>
  (y, node, line) =>
    asBoolean(y.raw(node), what, report(y, line));
export const strings =
  (what: string): Decoder<string[]> =>
  (y, node, line) =>
    y.strings(node, what, line);

/** An environment variable name. */
export const envName =
  (what: string): Decoder<string> =>
  (y, node, line) => {
    const name = text(what)(y, node, line);
    const problem = name === undefined ? undefined : envNameProblem(name);
    if (problem !== undefined) y.problems.add(line, `${what}: ${problem}`);
    return problem === undefined ? name : undefined;
  };

/** A secret string. Never quoted in messages, whatever it holds. */
export const secret =
  (what: string): Decoder<Secret> =>
  (y, node, line) => {
    const raw = y.raw(node);
    if (typeof raw === "string" && raw !== "") return new Secret(raw);
    y.problems.add(line, `${what} must be a non-empty quoted string`);
    return undefined;
  };

/** Kubernetes labels: a map of strings; each bad entry is reported at its own line. */
export const labels: Decoder<Record<string, string>> = (y, node, line) => {
  const entries = y.entries(node, "labels", undefined, line);
  if (entries === undefined) return undefined;
  const result: Record<string, string> = {};
  for (const entry of entries) {
    const value = y.raw(entry.node);
    const problem =
      typeof value === "string"
        ? (labelKeyProblem(entry.key) ?? labelValueProblem(value))
        : `label ${JSON.stringify(entry.key)} must be a string: quote the value`;
    if (problem === undefined && typeof value === "string") result[entry.key] = value;
    else if (problem !== undefined) y.problems.add(entry.line, problem);
  }
  return result;
};

/** Node taints; each bad item is reported at its own line. */
export const taints: Decoder<string[]> = (y, node, line) =>
  checkedStrings(y, node, line, "taints", taintProblem);

/** Registry hosts to mirror; each bad item is reported at its own line. */
export const mirrors: Decoder<string[]> = (y, node, line) =>
  checkedStrings(y, node, line, "mirrors", mirrorProblem);

function checkedStrings(
  y: YamlNodes,
  node: unknown,
  line: number,
  what: string,
  check: (item: string) => string | undefined,
): string[] | undefined {
  const items = y.items(node, what, line);
  const checked = items?.map((item) => {
    const value = y.raw(item.node);
    const problem = typeof value === "string" ? check(value) : `${what} items must be strings`;
    if (problem !== undefined) y.problems.add(item.line, problem);
    return problem === undefined ? String(value) : undefined;
  });
  return checked?.every((item) => item !== undefined) === true ? checked : undefined;
}

const SUDO_KEYS = ["passwordEnv", "prompt", "password", "allowPlaintextPassword"] as const;
const SUDO_FORMS =
  '"passwordless", {passwordEnv: NAME}, {prompt: true} or {password: ..., allowPlaintextPassword: true}';

/** `passwordless`, or a map naming where the sudo password comes from. */
export const sudo: Decoder<SudoSettings> = (y, node, line) => {
  const raw = y.raw(node);
  if (raw === "passwordless") return { mode: "passwordless" };
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    y.problems.add(line, `sudo must be ${SUDO_FORMS}`); // the value may be a password: never quote it
    return undefined;
  }
  const entries = y.entries(node, "sudo", SUDO_KEYS, line) ?? [];
  const fields = readFields(y, entries, {
    passwordEnv: envName("sudo.passwordEnv"),
    prompt: bool("sudo.prompt"),
    password: secret("sudo.password"),
    allowPlaintextPassword: bool("sudo.allowPlaintextPassword"),
  });
  const { passwordEnv, prompt, password, allowPlaintextPassword } = fields;
  if (password !== undefined && allowPlaintextPassword?.value !== true) {
    y.problems.add(
      password.line,
      "sudo.password is a plaintext password in the inventory: use passwordEnv or prompt: true, " +
        "or add allowPlaintextPassword: true to accept it",
    );
    return undefined;
  }
  const named = entries.some((entry) => entry.key === "passwordEnv" || entry.key === "password");
  if (!named && prompt?.value !== true) {
    y.problems.add(line, `sudo must be ${SUDO_FORMS}`);
    return undefined;
  }
  if (named && passwordEnv === undefined && password === undefined) return undefined; // reported
  return {
    mode: "password",
    ...(passwordEnv === undefined ? {} : { passwordEnv: passwordEnv.value }),
    prompt: prompt?.value === true,
    ...(password === undefined ? {} : { value: password.value }),
  };
};
