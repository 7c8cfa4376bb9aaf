import type { Problems } from "./problems.js";

/** `key=value` with the line it is on; quotes around the value already removed. */
export interface IniVar {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

/** A host line: under `group` (undefined above the first section), with its inline variables. */
export interface IniHostLine {
  readonly line: number;
  readonly group: string | undefined;
  readonly name: string;
  readonly vars: readonly IniVar[];
}

/** What an Ansible INI inventory says, line by line; see ini.ts for what it means. */
export interface IniFile {
  readonly hosts: readonly IniHostLine[];
  /** The variables of each `[group:vars]` section. */
  readonly groupVars: readonly { readonly group: string; readonly vars: readonly IniVar[] }[];
  /** `[parent:children]` members. */
  readonly children: readonly { readonly parent: string; readonly child: string; readonly line: number }[];
  /** Every group named by a section header or as a child, in order of first appearance, with that line. */
  readonly groups: ReadonlyMap<string, number>;
}

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$/;

/**
 * Splits an Ansible INI inventory into host lines, group variables and group
 * children, as Ansible's own INI parser does: `#` or `;` starts a comment
 * line; host lines are split like a shell (quotes group and are removed, a
 * word starting with `#` starts a comment); `[g:vars]` lines are key=value.
 */
export function lexIni(text: string, problems: Problems): IniFile {
  const hosts: IniHostLine[] = [];
  const groupVars: { group: string; vars: IniVar[] }[] = [];
  const children: { parent: string; child: string; line: number }[] = [];
  const groups = new Map<string, number>();
  let section: { group: string | undefined; kind: string; vars: IniVar[] } = {
    group: undefined,
    kind: "hosts",
    vars: [],
  };
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const content = raw.trim();
    if (content === "" || content.startsWith("#") || content.startsWith(";")) return;
    const header = SECTION.exec(content);
    if (header !== null) {
      const [, group = "", kind = "hosts"] = header;
      if (!["hosts", "vars", "children"].includes(kind)) {
        problems.add(
          line,
          `unknown section kind [${group}:${kind}]: use [${group}], [${group}:vars] or [${group}:children]`,
        );
      }
      if (!groups.has(group)) groups.set(group, line);
      section = { group, kind, vars: [] };
      if (kind === "vars") groupVars.push({ group, vars: section.vars });
      return;
    }
    if (content.startsWith("[")) {
      problems.add(line, "malformed section header: expected [group], [group:vars] or [group:children]");
    } else if (section.kind === "vars") {
      const equals = content.indexOf("=");
      if (equals <= 0) problems.add(line, `expected key=value in [${section.group ?? ""}:vars]`);
      else
        section.vars.push({
          key: content.slice(0, equals).trim(),
          value: unquote(content.slice(equals + 1).trim()),
          line,
        });
    } else if (section.kind === "children" && section.group !== undefined) {
      const child = splitWords(content, line, problems)?.[0];
      if (child !== undefined && !groups.has(child)) groups.set(child, line);
      if (child !== undefined) children.push({ parent: section.group, child, line });
    } else if (section.kind === "hosts") {
      const host = hostLine(content, line, section.group, problems);
      if (host !== undefined) hosts.push(host);
    }
  });
  return { hosts, groupVars, children, groups };
}

/** A host line, or undefined (reported) when it cannot be read at all. */
function hostLine(
  content: string,
  line: number,
  group: string | undefined,
  problems: Problems,
): IniHostLine | undefined {
  const [written = "", ...words] = splitWords(content, line, problems) ?? [];
  if (written === "") return undefined;
  // A variable where a host name belongs: a [group:vars] header is missing or broken above. Never
  // quote it: its value may be a password or a token.
  if (written.includes("=")) {
    problems.add(
      line,
      `expected a host name, got a key=value${group === undefined ? "" : ` in [${group}]`}: is a [group:vars] header missing or malformed above?`,
    );
    return undefined;
  }
  if (/\[[^\]]*:[^\]]*\]/.test(written)) {
    problems.add(line, `host ranges like ${JSON.stringify(written)} are not supported: list each host`);
    return undefined;
  }
  const vars: IniVar[] = [];
  // Ansible's `name:port` form, for names that are not IPv6 addresses.
  const withPort = /^([^:[\]]+):(\d+)$/.exec(written);
  const name = withPort?.[1] ?? written;
  if (withPort?.[2] !== undefined) vars.push({ key: "ansible_port", value: withPort[2], line });
  words.forEach((word, index) => {
    const equals = word.indexOf("=");
    // Never quote the word: it may be a secret written without its key.
    if (equals <= 0) problems.add(line, `expected key=value after the host name (word ${index + 2})`);
    else vars.push({ key: word.slice(0, equals), value: word.slice(equals + 1), line });
  });
  return { line, group, name, vars };
}

/** Removes one pair of matching quotes around a whole value. */
function unquote(value: string): string {
  const first = value[0];
  return value.length >= 2 && (first === "'" || first === '"') && value.endsWith(first)
    ? value.slice(1, -1)
    : value;
}

/**
 * Shell-like words: whitespace separates, '...' and "..." group (and are
 * removed), a word starting with # ends the line. Undefined (reported) when a
 * quote is not closed.
 */
function splitWords(content: string, line: number, problems: Problems): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const char of content) {
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      else word = (word ?? "") + char;
    } else if (char === "'" || char === '"') {
      quote = char;
      word ??= "";
    } else if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (char === "#" && word === undefined) {
      break;
    } else {
      word = (word ?? "") + char;
    }
  }
  if (quote !== undefined) {
    problems.add(line, `unterminated ${quote} quote`);
    return undefined;
  }
  if (word !== undefined) words.push(word);
  return words;
}
