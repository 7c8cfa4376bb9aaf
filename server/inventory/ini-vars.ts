import { Secret } from "../../shared/secret.js";
import type { ClusterFields, HostFields, Located } from "./draft.js";
import type { IniVar } from "./ini-lexer.js";
import type { Problems } from "./problems.js";
import { unknownKey } from "./suggest.js";
import type { TokenSource } from "./types.js";
import { asBoolean, asPort, asText, type Report } from "./values.js";

/** What one set of INI variables (a host line or a [group:vars] section) says. */
export interface IniSettings {
  host: HostFields;
  cluster: ClusterFields;
  /** ansible_become_pass: honoured only with groundcrew_allow_plaintext_password=true. */
  password?: Located<Secret> & { readonly key: string };
  allowPlaintextPassword?: Located<boolean>;
}

type Apply = (settings: IniSettings, variable: IniVar, report: Report) => void;

const text =
  (field: "address" | "user" | "key" | "iface"): Apply =>
  (settings, { value: raw, line }, report) => {
    const value = asText(raw, field, report);
    if (value !== undefined) settings.host[field] = { value, line };
  };
const flag =
  (field: "gpu" | "installDocker" | "installNvidiaDriver"): Apply =>
  (settings, { value: raw, line }, report) => {
    const value = asBoolean(raw, field, report);
    if (value !== undefined) settings.host[field] = { value, line };
  };
const port =
  (place: "host" | "httpPort" | "httpsPort"): Apply =>
  (settings, { value: raw, line }, report) => {
    const value = asPort(raw, place === "host" ? "port" : place, report);
    if (value === undefined) return;
    if (place === "host") settings.host.port = { value, line };
    else settings.cluster[place] = { value, line };
  };
const password: Apply = (settings, { key, value, line }) => {
  settings.password = { value: new Secret(value), line, key };
};
const sshPassword: Apply = (_settings, _variable, report) => {
  report("SSH passwords are not supported: log in with ansible_ssh_private_key_file or an SSH agent");
};
const token: Apply = (settings, { value: raw, line }, report) => {
  const value = tokenSource(raw, report);
  if (value !== undefined) settings.cluster.token = { value, line };
};

/** The variables groundcrew reads, by name; other `ansible_*` variables are ignored. */
const VARS: Readonly<Record<string, Apply>> = {
  ansible_host: text("address"),
  ansible_ssh_host: text("address"),
  ansible_user: text("user"),
  ansible_ssh_user: text("user"),
  ansible_port: port("host"),
  ansible_ssh_port: port("host"),
  ansible_ssh_private_key_file: text("key"),
  ansible_private_key_file: text("key"),
  ansible_become_pass: password,
  ansible_become_password: password,
  ansible_sudo_pass: password,
  ansible_password: sshPassword,
  ansible_ssh_pass: sshPassword,
  groundcrew_allow_plaintext_password: (settings, { value: raw, line }, report) => {
    const value = asBoolean(raw, "groundcrew_allow_plaintext_password", report);
    if (value !== undefined) settings.allowPlaintextPassword = { value, line };
  },
  my_iface: text("iface"),
  has_gpu: flag("gpu"),
  install_docker: flag("installDocker"),
  install_nvidia_driver: flag("installNvidiaDriver"),
  http_port: port("httpPort"),
  https_port: port("httpsPort"),
  convect_token: token,
  k3s_token: token,
};

/** Decodes one set of variables, reporting unknown names and bad values at their lines. */
export function readIniVars(vars: readonly IniVar[], problems: Problems): IniSettings {
  const settings: IniSettings = { host: {}, cluster: {} };
  for (const variable of vars) {
    const apply = Object.hasOwn(VARS, variable.key) ? VARS[variable.key] : undefined;
    const report: Report = (message) => {
      problems.add(variable.line, message);
    };
    if (apply !== undefined) apply(settings, variable, report);
    else if (!variable.key.startsWith("ansible_")) {
      report(unknownKey("variable", variable.key, Object.keys(VARS)));
    }
  }
  return settings;
}

const ENV_LOOKUP = /^\{\{\s*lookup\(\s*(['"])env\1\s*,\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\2\s*\)\s*\}\}$/;

/**
 * A k3s token as airgap-k3s playbooks write it: a literal (the playbooks'
 * `convect_token=k3s_hub_token` is the token itself), or
 * `{{ lookup('env', 'NAME') }}`. Other templates cannot be evaluated here.
 */
function tokenSource(raw: string, report: Report): TokenSource | undefined {
  const lookup = ENV_LOOKUP.exec(raw.trim());
  if (lookup?.[3] !== undefined) return { source: "env", env: lookup[3] };
  if (raw.includes("{{") || raw.includes("{%")) {
    report(
      "the token is a Jinja template groundcrew cannot evaluate: write the token itself, " +
        "or {{ lookup('env', 'NAME') }} to take it from the environment",
    );
  } else if (raw.trim() === "" || /\s/.test(raw.trim())) {
    report("the token must be a non-empty word without spaces");
  } else {
    return { source: "value", value: new Secret(raw.trim()) };
  }
  return undefined;
}
