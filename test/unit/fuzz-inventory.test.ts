import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isGroundcrewError } from "../../shared/errors.js";
import { parseInventory } from "../../server/inventory/load.js";
import { InventoryInvalidError } from "../../server/inventory/problems.js";
import type { Inventory, InventoryDeps } from "../../server/inventory/types.js";
import { CONTROL_CHARACTER, fuzzParams, hostileText, terminalEscapes } from "../support/fuzz.js";

/**
 * Property tests of the inventory readers (server/inventory/): YAML and
 * Ansible INI text, arbitrary or mutated from valid inventories, goes through
 * the real parseInventory. It returns an inventory or throws the product's
 * InventoryInvalidError, nothing else; every problem names the file and a
 * line of it; no message carries a raw control character or a secret the
 * file holds; host names with terminal escapes are refused.
 */

const deps: InventoryDeps = { fileExists: () => true, homeDir: "/home/op", env: {} };
const YAML_FILE = "/fleet/fleet.yaml";
const INI_FILE = "/fleet/hosts.ini";

const SUDO_PASSWORD = "Sudo-Pa55-9f2c7e1d";
const TOKEN = "K10tok-4b8d2a6c0e1f3a5b7c9d";

/** Valid inventories that hold secrets in the file (opted in), to mutate. */
const YAML_SEEDS = [
  readFileSync("inventory/example.yaml", "utf8"),
  [
    "defaults:",
    "  user: ops",
    "  sudo: {password: " + JSON.stringify(SUDO_PASSWORD) + ", allowPlaintextPassword: true}",
    "hosts:",
    "  - name: cp1",
    "    address: 10.0.0.1",
    "    role: server",
    "    depot: true",
    "  - name: w1",
    "    address: 10.0.0.2",
    "    role: worker",
    "    labels: {zone: a}",
    "cluster:",
    "  token:",
    `    value: "${TOKEN}"`,
    "    allowPlaintextToken: true",
  ].join("\n"),
];
const INI_SEEDS = [
  readFileSync("inventory/airgap-k3s.ini", "utf8"),
  [
    "cp1 ansible_host=10.0.0.1 ansible_user=ops",
    `w1 ansible_host=10.0.0.2 ansible_user=ops ansible_become_password='${SUDO_PASSWORD}'`,
    "[driver]",
    "cp1",
    "[worker]",
    "w1",
    "[all:vars]",
    `k3s_token=${TOKEN}`,
    "groundcrew_allow_plaintext_password=true",
  ].join("\n"),
];

type Outcome =
  | { readonly ok: true; readonly inventory: Inventory }
  | { readonly ok: false; readonly error: InventoryInvalidError };

/** Parses; anything thrown other than the product's inventory error fails the property. */
function attempt(text: string, file: string): Outcome {
  try {
    return { ok: true, inventory: parseInventory(text, file, deps) };
  } catch (error) {
    if (error instanceof InventoryInvalidError && isGroundcrewError(error, "INVENTORY_INVALID")) {
      return { ok: false, error };
    }
    throw error;
  }
}

/** Every problem is at a line of the text, printed as "file:line: message", and prints safely. */
function expectWellReported(text: string, file: string, secrets: readonly string[] = []): void {
  const outcome = attempt(text, file);
  if (outcome.ok) return;
  const { error } = outcome;
  const lineCount = text.split("\n").length;
  const [header, ...rest] = error.message.split("\n");
  expect(header).toMatch(new RegExp(`^inventory ${file} has \\d+ problems?:$`));
  expect(error.problems.length).toBeGreaterThan(0);
  expect(rest).toHaveLength(error.problems.length);
  error.problems.forEach((problem, index) => {
    expect(problem.line).toBeGreaterThanOrEqual(1);
    expect(problem.line).toBeLessThanOrEqual(lineCount);
    expect(rest[index]).toBe(`${file}:${problem.line}: ${problem.message}`);
    expect(problem.message).not.toMatch(CONTROL_CHARACTER);
  });
  for (const secret of secrets) expect(error.message).not.toContain(secret);
}

/** Line-level edits: delete, duplicate, move, re-indent a line, or splice text into one. */
type Edit =
  | { readonly op: "delete" | "duplicate"; readonly line: number }
  | { readonly op: "move"; readonly line: number; readonly to: number }
  | { readonly op: "indent"; readonly line: number; readonly by: number }
  | {
      readonly op: "splice";
      readonly line: number;
      readonly at: number;
      readonly cut: number;
      readonly insert: string;
    };

const yamlToken = fc.constantFrom(
  ":",
  "- ",
  "  ",
  "{",
  "}",
  "[",
  "]",
  ",",
  "#",
  "&a ",
  "*a",
  "!!str ",
  "!tag ",
  '"',
  "'",
  "|",
  ">",
  "? ",
  "---",
  "...",
  "%YAML 1.2",
  "\t",
  "\r",
  "=",
  "[all:vars]",
  "[driver]",
  "[g:children]",
  "ansible_host=",
  "name: ",
  "hosts:",
  "sudo: ",
  "token: ",
);
const insertion = fc.oneof(yamlToken, fc.string({ unit: "binary", maxLength: 6 }), terminalEscapes);

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constantFrom("delete", "duplicate"), line: fc.nat() }),
  fc.record({ op: fc.constant("move"), line: fc.nat(), to: fc.nat() }),
  fc.record({ op: fc.constant("indent"), line: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({
    op: fc.constant("splice"),
    line: fc.nat(),
    at: fc.nat(),
    cut: fc.nat({ max: 6 }),
    insert: insertion,
  }),
);

function applyEdit(text: string, change: Edit): string {
  const lines = text.split("\n");
  const index = change.line % lines.length;
  const line = lines[index] ?? "";
  switch (change.op) {
    case "delete":
      lines.splice(index, 1);
      break;
    case "duplicate":
      lines.splice(index, 0, line);
      break;
    case "move":
      lines.splice(index, 1);
      lines.splice(change.to % (lines.length + 1), 0, line);
      break;
    case "indent":
      lines[index] =
        change.by >= 0 ? " ".repeat(change.by) + line : line.slice(Math.min(-change.by, line.search(/\S|$/)));
      break;
    case "splice": {
      const at = change.at % (line.length + 1);
      lines[index] = line.slice(0, at) + change.insert + line.slice(at + change.cut);
      break;
    }
  }
  return lines.join("\n");
}

/**
 * The secrets the mutated text still marks as secrets: the value whole, right
 * after its own key, which starts a word. Those must never be echoed. (An edit
 * that cuts the key off, or glues it to another key's value, leaves plain
 * text the reader cannot know was a secret.)
 */
function keptSecrets(text: string): string[] {
  const escape = (value: string): string => value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const marked = [
    {
      secret: SUDO_PASSWORD,
      keys: [`password: "${SUDO_PASSWORD}"`, `ansible_become_password='${SUDO_PASSWORD}'`],
    },
    { secret: TOKEN, keys: [`value: "${TOKEN}"`, `k3s_token=${TOKEN}`] },
  ];
  return marked
    .filter(({ keys }) => keys.some((form) => new RegExp(`(^|[\\s{,])${escape(form)}`, "m").test(text)))
    .map(({ secret }) => secret);
}

describe("inventory readers under hostile input", () => {
  it.each([
    ["YAML", YAML_FILE],
    ["INI", INI_FILE],
  ])("%s: arbitrary text is an inventory or a file:line error, nothing else", (_format, file) => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            yamlToken,
            fc.string({ unit: "binary", maxLength: 10 }),
            terminalEscapes,
            fc.constant("\n"),
          ),
          {
            maxLength: 60,
          },
        ),
        (parts) => {
          expectWellReported(parts.join(""), file);
        },
      ),
      fuzzParams(300),
    );
  });

  it.each([
    ["YAML", YAML_FILE, YAML_SEEDS],
    ["INI", INI_FILE, INI_SEEDS],
  ])(
    "%s: valid inventories, mutated line by line, never crash and never echo a secret",
    (_format, file, seeds) => {
      for (const seed of seeds) expect(attempt(seed, file).ok).toBe(true);
      fc.assert(
        fc.property(
          fc.constantFrom(...seeds),
          fc.array(edit, { minLength: 1, maxLength: 5 }),
          (seed, edits) => {
            const text = edits.reduce(applyEdit, seed);
            expectWellReported(text, file, keptSecrets(text));
          },
        ),
        fuzzParams(400),
      );
    },
  );

  it("host names with terminal escapes are refused at their line and quoted escaped, or trimmed away", () => {
    const escapedName = fc
      .tuple(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), terminalEscapes, hostileText(20))
      .map(([head, escape, tail]) => `${head}${escape}${tail}`);
    fc.assert(
      fc.property(escapedName, fc.boolean(), (name, yaml) => {
        const text = yaml
          ? [
              "hosts:",
              `  - name: ${JSON.stringify(name)}`,
              "    address: 10.0.0.1",
              "    role: server",
              "    user: ops",
            ].join("\n")
          : [
              `${JSON.stringify(name).replace(/\\"/g, "")} ansible_host=10.0.0.1 ansible_user=ops`,
              "[driver]",
              "x",
            ].join("\n");
        const outcome = attempt(text, yaml ? YAML_FILE : INI_FILE);
        if (outcome.ok) {
          // Accepted only when the escape was blank space around the name, which is trimmed away.
          expect(outcome.inventory.hosts.map((host) => host.name).join("")).not.toMatch(CONTROL_CHARACTER);
          return;
        }
        expect(outcome.error.problems.some((problem) => problem.line === (yaml ? 2 : 1))).toBe(true);
        expect(outcome.error.message.split("\n").join("")).not.toMatch(CONTROL_CHARACTER);
      }),
      fuzzParams(200),
    );
  });

  it("an alias bomb, a deep nest and a long line are refused or read, without blowing up", () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...Array.from({ length: 8 }, (_, index) => {
        const name = String.fromCharCode(98 + index);
        const previous = String.fromCharCode(97 + index);
        return `${name}: &${name} [${Array(9).fill(`*${previous}`).join(",")}]`;
      }),
      "hosts: *i",
    ].join("\n");
    for (const [text, file] of [
      [bomb, YAML_FILE],
      ["hosts: " + "[".repeat(5000) + "]".repeat(5000), YAML_FILE],
      [`hosts:\n  - name: ${"a".repeat(200_000)}\n    address: 10.0.0.1`, YAML_FILE],
      [`${"h".repeat(200_000)} ansible_host=10.0.0.1 ansible_user=ops\n[driver]\nh`, INI_FILE],
      ["\u0000\u0001\u0002\n\u001b[2J", YAML_FILE],
      ["\ufeffhosts: []", YAML_FILE],
    ] as const) {
      expectWellReported(text, file);
    }
  });
});
