import { readFile } from "node:fs/promises";
import { HOST_CAS_DIR } from "../../shared/artifacts.js";
import { depotConfigSchema, type DepotConfig } from "../../shared/depot-config.js";
import { GroundcrewError } from "../../shared/errors.js";
import { parseFrame } from "../../shared/protocol.js";
import { startDepotServer } from "../cas/depot-server.js";

export interface DepotServeDeps {
  /** One JSON line once listening: {"depot":"listening","port":N}. */
  readonly stdout: (text: string) => void;
  /** Refused requests and failed transfers, one line each. */
  readonly stderr: (text: string) => void;
  /** Resolves when the depot must stop (SIGTERM in the executable). */
  readonly untilStopped: () => Promise<void>;
}

/**
 * `groundcrew-agent depot serve --config FILE`: serves this host's store to
 * the hosts named in the config over mutual TLS (see startDepotServer)
 * until `untilStopped` resolves, then closes and resolves 0. Throws
 * AGENT_CONFIG_INVALID for an unreadable or malformed config or TLS file.
 */
export async function depotServeCommand(configFile: string, deps: DepotServeDeps): Promise<number> {
  const config = await readConfig(configFile);
  const [caPem, certPem, keyPem] = await Promise.all(
    [config.tls.ca, config.tls.cert, config.tls.key].map((file) =>
      readFile(file, "utf8").catch((cause: unknown) => {
        throw new GroundcrewError("AGENT_CONFIG_INVALID", `cannot read ${file} named by ${configFile}`, {
          cause,
          context: { path: file },
        });
      }),
    ),
  );
  const server = await startDepotServer({
    root: config.root ?? HOST_CAS_DIR,
    port: config.port,
    host: config.bind ?? "0.0.0.0",
    tls: { caPem: caPem ?? "", certPem: certPem ?? "", keyPem: keyPem ?? "" },
    allowedHosts: config.allowedHosts,
    log: (line) => {
      deps.stderr(`groundcrew-agent depot: ${line}\n`);
    },
  });
  deps.stdout(`${JSON.stringify({ depot: "listening", port: server.port })}\n`);
  await deps.untilStopped();
  await server.close();
  return 0;
}

async function readConfig(file: string): Promise<DepotConfig> {
  const text = await readFile(file, "utf8").catch((cause: unknown) => {
    throw new GroundcrewError("AGENT_CONFIG_INVALID", `cannot read the depot config ${file}`, { cause });
  });
  const parsed = parseFrame(depotConfigSchema, text);
  if (!parsed.ok) throw new GroundcrewError("AGENT_CONFIG_INVALID", `depot config ${file}: ${parsed.error}`);
  return parsed.value;
}
