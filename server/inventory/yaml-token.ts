import type { TokenSource } from "./types.js";
import { bool, envName, readFields, secret, text, type Decoder } from "./yaml-fields.js";

const TOKEN_KEYS = ["generate", "env", "file", "value", "allowPlaintextToken"] as const;
const TOKEN_FORMS =
  "cluster.token must be one of {generate: true}, {env: NAME}, {file: PATH} " +
  "or {value: TOKEN, allowPlaintextToken: true}";

/**
 * `cluster.token`: where the k3s join token comes from, exactly one source.
 * A literal value is refused unless `allowPlaintextToken: true` sits next to it.
 */
export const token: Decoder<TokenSource> = (y, node, line) => {
  const raw = y.raw(node);
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    y.problems.add(line, TOKEN_FORMS); // the value may be the token itself: never quote it
    return undefined;
  }
  const entries = y.entries(node, "cluster.token", TOKEN_KEYS, line) ?? [];
  const fields = readFields(y, entries, {
    generate: bool("cluster.token.generate"),
    env: envName("cluster.token.env"),
    file: text("cluster.token.file"),
    value: secret("cluster.token.value"),
    allowPlaintextToken: bool("cluster.token.allowPlaintextToken"),
  });
  const { generate, env, file, value, allowPlaintextToken } = fields;
  const given = entries.filter((entry) => entry.key !== "allowPlaintextToken").length;
  if (given !== 1 || generate?.value === false) {
    y.problems.add(line, TOKEN_FORMS);
    return undefined;
  }
  if (value !== undefined && allowPlaintextToken?.value !== true) {
    y.problems.add(
      value.line,
      "cluster.token.value is a plaintext token in the inventory: use env or file, " +
        "or add allowPlaintextToken: true to accept it",
    );
    return undefined;
  }
  if (env !== undefined) return { source: "env", env: env.value };
  if (file !== undefined) return { source: "file", path: file.value };
  if (value !== undefined) return { source: "value", value: value.value };
  return generate === undefined ? undefined : { source: "generate" }; // undefined: reported above
};
