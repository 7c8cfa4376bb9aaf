import path from "node:path";
import { agentConfigSchema, type AgentConfig } from "../../shared/agent-config.js";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec, Fs } from "../../shared/host-io.js";
import { parseFrame, PROTOCOL_VERSION, type Plan } from "../../shared/protocol.js";
import { VERSION } from "../../shared/version.js";
import { Ledger } from "../ledger/ledger.js";
import { Outbox, outboxReporter } from "../outbox/outbox.js";
import { OutboxDelivery } from "../outbox/outbox-delivery.js";
import { RunState, completionReporter } from "../outbox/run-state.js";
import { runPlan } from "../runner/run-plan.js";
import { defaultRegistry } from "../steps/index.js";
import { AgentClient } from "../transport/agent-client.js";

/** Exit status for a refusal by the provisioner: the unit must not restart (RestartPreventExitStatus). */
export const EXIT_REFUSED = 3;

export interface ServeDeps {
  readonly exec: Exec;
  readonly fs: Fs;
  readonly stderr: (text: string) => void;
}

/**
 * `groundcrew-agent serve --config FILE`: the agent as the provisioner runs
 * it (a systemd unit). Dials back over mutual TLS, takes its plan from the
 * welcome, runs it once, and delivers every event through the on-disk
 * outbox: after any restart (crash, kill, reboot) it resends what was not
 * acknowledged and resumes at the first step not yet completed. Resolves 0
 * once run.finished is acknowledged (at once when that already happened),
 * EXIT_REFUSED when the provisioner refuses it.
 */
export async function serveCommand(configFile: string, deps: ServeDeps): Promise<number> {
  const config = await readConfig(deps.fs, configFile);
  const { fs, exec } = deps;
  const outbox = await Outbox.open(fs, config.stateDir, config.runId, config.host);
  const runState = await RunState.open(fs, config.stateDir, config.runId);
  const doneMarker = path.join(config.stateDir, "runs", `${config.runId}.finished`);
  let finished = (await fs.stat(doneMarker)) !== undefined;
  if (finished && outbox.lastSeq <= outbox.ackedSeq) return 0;

  const [ca, cert, key] = await Promise.all([
    fs.readText(config.tls.ca),
    fs.readText(config.tls.cert),
    fs.readText(config.tls.key),
  ]);
  return new Promise<number>((resolve) => {
    let started = false;
    const client = new AgentClient({
      url: config.servers[0] ?? "",
      tls: { ca, cert, key },
      identity: { host: config.host, runId: config.runId, agentVersion: VERSION },
      onWelcome: (welcome) => {
        if (welcome.protocol !== PROTOCOL_VERSION || !planFits(welcome.plan, config)) {
          deps.stderr("groundcrew-agent: the provisioner sent a plan for another host or run\n");
          void client.close();
          resolve(EXIT_REFUSED);
          return;
        }
        void delivery.welcomed(welcome.ackedSeq);
        if (started || finished) return;
        started = true;
        void execute(welcome.plan).catch((error: unknown) => {
          deps.stderr(`groundcrew-agent: ${error instanceof Error ? error.message : String(error)}\n`);
          void client.close();
          resolve(1);
        });
      },
      onAck: (seq) => {
        void delivery.acked(seq).then(() => {
          if (finished && delivery.drained) {
            void client.close();
            resolve(0);
          }
        });
      },
      onReject: (code, message) => {
        deps.stderr(`groundcrew-agent: refused by the provisioner (${code}): ${message}\n`);
        resolve(EXIT_REFUSED);
      },
      onDisconnect: () => undefined,
      onError: (error) => {
        deps.stderr(`groundcrew-agent: ${error.message}\n`);
      },
    });
    const delivery = new OutboxDelivery(outbox, (envelope) => client.send(envelope));
    client.start();

    const execute = async (plan: Plan): Promise<void> => {
      await runPlan(plan, {
        registry: defaultRegistry(),
        exec,
        fs,
        ledger: new Ledger(fs, config.stateDir),
        reporter: completionReporter(runState, outboxReporter(outbox)),
        completed: runState.completed,
      });
      await fs.writeFileAtomic(doneMarker, "", 0o600);
      finished = true;
      if (delivery.drained) {
        void client.close();
        resolve(0);
      }
    };
  });
}

function planFits(plan: Plan, config: AgentConfig): boolean {
  return plan.runId === config.runId && plan.host === config.host;
}

async function readConfig(fs: Fs, file: string): Promise<AgentConfig> {
  const text = await fs.readText(file).catch((cause: unknown) => {
    throw new GroundcrewError("AGENT_CONFIG_INVALID", `cannot read the agent config ${file}`, { cause });
  });
  const parsed = parseFrame(agentConfigSchema, text);
  if (!parsed.ok) throw new GroundcrewError("AGENT_CONFIG_INVALID", `agent config ${file}: ${parsed.error}`);
  return parsed.value;
}
