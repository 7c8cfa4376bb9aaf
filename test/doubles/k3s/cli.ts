import path from "node:path";
import { runAgent } from "./agent-command.js";
import { FatalError, messageOf } from "./fatal.js";
import { kubectl } from "./kubectl/main.js";
import { log } from "./log.js";
import { runServer } from "./server-command.js";
import { K3S_VERSION, versionText } from "./version.js";

/** k3s subcommands the double does not implement (they exist in k3s). */
const NOT_IMPLEMENTED = [
  "crictl",
  "ctr",
  "token",
  "etcd-snapshot",
  "secrets-encrypt",
  "certificate",
  "completion",
];

const USAGE = `NAME:
   k3s - Kubernetes, but small and simple (groundcrew test double)

USAGE:
   k3s [global options] command [command options] [arguments...]

VERSION:
   ${K3S_VERSION}

COMMANDS:
   server        Run management server
   agent         Run node agent
   kubectl       Run kubectl (the verbs and resources the double serves)
   check-config  Run config check
`;

/**
 * The double's entry: `argv` is process.argv. Called through a link named
 * `kubectl`, it is `k3s kubectl`. Resolves with the exit status; a
 * FatalError is logged as k3s logs fatal errors (`level=fatal msg="Error: ..."`),
 * a usage error printed plainly, both with status 1.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const invokedAs = path.basename(process.argv0 || argv[1] || argv[0] || "k3s");
  const args = argv.slice(2);
  try {
    if (invokedAs === "kubectl") return await kubectl(args);
    if (invokedAs === "crictl" || invokedAs === "ctr") return notImplemented(invokedAs);
    const [command, ...rest] = args;
    switch (command) {
      case "--version":
      case "-v":
        process.stdout.write(versionText());
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return 0;
      case "server":
        return await runServer(rest);
      case "agent":
        return await runAgent(rest);
      case "kubectl":
        return await kubectl(rest);
      case "check-config":
        process.stdout.write(
          "System check skipped: this is the groundcrew k3s test double\n\nSTATUS: pass\n",
        );
        return 0;
      default:
        if (NOT_IMPLEMENTED.includes(command)) return notImplemented(`k3s ${command}`);
        process.stderr.write(`Incorrect Usage: '${command}' is not a k3s command\n\n${USAGE}`);
        return 1;
    }
  } catch (error) {
    const message = messageOf(error);
    if (error instanceof FatalError && message.startsWith("Incorrect Usage"))
      process.stderr.write(`${message}\n`);
    else log("fatal", `Error: ${message}`);
    return 1;
  }
}

function notImplemented(what: string): number {
  process.stderr.write(`${what}: not implemented by the test double\n`);
  return 1;
}
