import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import { PROTOCOL_VERSION, type EventEnvelope, type Plan } from "../../shared/protocol.js";
import type { KeyObject } from "node:crypto";
import { formatBytes } from "../../shared/format-bytes.js";
import type { VerifiedBundle } from "../bundle/verified-bundle.js";
import { verifyBundle } from "../bundle/verify-bundle.js";
import { uploadArtifacts } from "../deploy/depot-upload.js";
import { depotConfig, startDepotService } from "../deploy/depot-service.js";
import { AGENT_STATE_DIR } from "../deploy/layout.js";
import { AGENT_TLS_FILES, installAgent, type InstalledAgent } from "../deploy/install-agent.js";
import type { InventoryHost, Inventory } from "../inventory/types.js";
import { Journal } from "../journal/index.js";
import { Pki } from "../pki/pki.js";
import type { CheckResult, HostProbe } from "../preflight/types.js";
import type { AgentBinary } from "../ssh/push-agent.js";
import type { KnownHosts } from "../ssh/known-hosts.js";
import { AGENT_PATH, AgentServer, DEFAULT_DEADLINE_MS } from "../ws/agent-server.js";
import { HostContact } from "./host-contact.js";
import { describeJournalOutage } from "../ws/journal-outage.js";
import { checkFleet, closeAll } from "./check-fleet.js";
import { dryRunHost } from "./dry-run.js";
import type { HostConnection } from "./host-session.js";
import { newRunId, phases, planFor } from "./plan.js";
import { mapLimit } from "./pool.js";
import { agentServes, unfinishedRun } from "./resume.js";
import { artifactLookup, fetchStep, planDelivery, type Delivery } from "./delivery.js";
import { bundleImages } from "../cluster/bundle-images.js";
import { loadAddonSources } from "../cluster/addon-sources.js";
import { checkNfsStorage } from "../cluster/storage-bundle.js";
import { clusterManifests } from "../cluster/manifests/cluster-manifests.js";
import { clusterLayout, installSteps, plansK3s, type ClusterLayout } from "../cluster/install-plan.js";
import { fetchKubeconfig, saveKubeconfig, waitForNodes } from "../cluster/cluster-ready.js";
import { resolveToken } from "../cluster/k3s-token.js";
import { syncNodeMetadata } from "../cluster/node-sync.js";
import { waitForClusterReport } from "../cluster/report/cluster-report.js";
import type { ClusterExpectations, ClusterReport } from "../cluster/report/types.js";
import { DEVICE_PLUGIN_MANIFEST } from "../cluster/manifests/device-plugin.js";
import { installRemoteFile } from "../deploy/remote-file.js";
import { K3S_TOKEN_FILE, REGISTRY_TLS_FILES } from "../deploy/layout.js";
import { Secret } from "../../shared/secret.js";
import type { Redactor } from "../../shared/redactor.js";
import { redactingSink, withRedaction } from "./redaction.js";
import type { ServerCertificate } from "../pki/pki.js";
import { RunTracker, type HostOutcome } from "./run-tracker.js";
import { cutOnRevocation, type RevocationCut } from "./revocation-cut.js";
import type { StepCheck } from "../../agent/commands/check-plan.js";
import { errorFields, silentLogger, type Logger } from "../log/logger.js";
import { loggedSink } from "../log/journal-commits.js";

/** Where `up` reports to; the CLI renders it (live lines, plain lines or JSON). */
export interface UpReporter {
  phase(host: string, text: string, state?: "running" | "failed" | "lost"): void;
  event(envelope: EventEnvelope): void;
  /** Bytes sent to a host so far: the agent, or the artifacts for the depot. */
  transfer(host: string, bytesDone: number, bytesTotal: number, what: "the agent" | "artifacts"): void;
  note(text: string): void;
}

export interface UpOptions {
  readonly inventory: Inventory;
  readonly stateDir: string;
  readonly agent: AgentBinary;
  readonly knownHosts: KnownHosts;
  readonly acceptNewHostKeys: boolean;
  readonly concurrency: number;
  /** Port the provisioner listens on for agents (stable, so agents find a restarted provisioner). */
  readonly port: number;
  /** How long a host may be away (not yet connected, or disconnected) before it is lost. */
  readonly hostGraceMs: number;
  readonly reporter: UpReporter;
  /** Sudo passwords by host name (resolveSudoPasswords), for hosts whose sudo needs one. */
  readonly sudoPasswords?: ReadonlyMap<string, Secret>;
  /**
   * The run's secrets, redacted from the journal, the reporter and errors
   * (server/orchestrate/redaction.ts). `up` adds the inventory's, the sudo
   * passwords, the k3s token and the registry's key; pass one to redact
   * what the caller prints with the same knowledge.
   */
  readonly redactor?: Redactor;
  /** Diagnostics (server/log/): SSH, agents, journal commits, phases, errors. Every line is redacted. */
  readonly log?: Logger;
  readonly signal?: AbortSignal;
  /** The offline bundle: verified (hashes, and the signature against `trustedKeys` when any) before any host is touched. */
  readonly bundle?: { readonly location: string; readonly trustedKeys: readonly KeyObject[] };
}

/** What the provisioner sent during `up`: its uplink cost. */
export interface Uplink {
  /** Everything written to the SSH connections (agent, artifacts, commands, SSH framing). */
  readonly sshBytes: number;
  /** Artifact bytes sent to the depot over SSH. */
  readonly artifactsOverSsh: number;
  /** Artifact bytes served to hosts directly (no depot, or the depot did not answer). */
  readonly artifactsOverHttps: number;
}

export type UpResult =
  | { readonly kind: "checks-failed"; readonly results: readonly CheckResult[] }
  | { readonly kind: "dry-run"; readonly plans: ReadonlyMap<string, readonly StepCheck[]> }
  | {
      readonly kind: "ran";
      readonly runId: string;
      readonly resumed: boolean;
      readonly outcomes: ReadonlyMap<string, HostOutcome>;
      readonly uplink: Uplink;
      /** The cluster after the run, when the plan installed k3s. */
      readonly cluster?: ClusterOutcome;
    };

/** Whether the cluster came up as planned (every node Ready, GPUs, storage, add-ons), what it holds, and where the kubeconfig went. */
export type ClusterOutcome =
  | {
      readonly ok: true;
      readonly nodes: number;
      readonly kubeconfig: string;
      readonly report: ClusterReport;
    }
  | { readonly ok: false; readonly problem: string; readonly report?: ClusterReport };

/** How long `up` waits, after the last host finished, for every node to be Ready. */
const NODES_READY_TIMEOUT_MS = 180_000;
/** Then how long for the rest: GPUs offered, storage classes, add-on installs. */
const CLUSTER_READY_TIMEOUT_MS = 300_000;

export function journalPath(stateDir: string): string {
  return path.join(stateDir, "journal.db");
}

/**
 * `up --dry-run`: `storage.nfs` against the bundle (as `up` checks it),
 * `check`, then each step's own check through the agent. Nothing is
 * written anywhere but the agent's cache.
 */
export async function dryRun(options: Omit<UpOptions, "port" | "hostGraceMs" | "signal">): Promise<UpResult> {
  const bundle = await verifyIfGiven(options);
  await checkNfsStorage(options.inventory, bundle);
  const check = await checkFleet(options.inventory, {
    ...options,
    onTransfer: (host, done, total) => {
      options.reporter.transfer(host, done, total, "the agent");
    },
  });
  try {
    if (check.failed) return { kind: "checks-failed", results: check.results };
    const plans = new Map<string, readonly StepCheck[]>();
    const delivery = planDelivery(options.inventory.hosts, archFrom(check.probes), bundle);
    for (const host of options.inventory.hosts) {
      const probe = check.probes.get(host.name);
      const connection = check.connections.get(host.name);
      if (probe?.ok !== true || connection === undefined) continue;
      const fetch = fetchStep(host, delivery, "https://provisioner.invalid");
      plans.set(
        host.name,
        await dryRunHost(connection, probe.agentPath, planFor("dry-run", host, "apply", fetch)),
      );
    }
    return { kind: "dry-run", plans };
  } finally {
    closeAll(check.connections);
  }
}

/**
 * `up`: read and validate everything (inventory, hosts, preflights) before
 * changing anything; then PKI, the agent server, the agents as systemd units
 * (phase by phase, bounded parallelism), and wait until every host's
 * run.finished is journaled or the host is lost. An unfinished run of the
 * same inventory (provisioner killed) is resumed, not restarted.
 * Throws JOURNAL_IN_USE when another groundcrew holds the journal.
 */
export async function up(given: UpOptions): Promise<UpResult> {
  const options = withRedaction(given);
  const { inventory, reporter, redactor } = options;
  const bundle = await verifyIfGiven(options);
  const addons = await loadAddonSources(inventory, bundle);
  await checkNfsStorage(inventory, bundle);
  const log = options.log ?? silentLogger;
  const journal = Journal.open(journalPath(options.stateDir));
  let check: Awaited<ReturnType<typeof checkFleet>> | undefined;
  let server: AgentServer | undefined;
  let revocations: RevocationCut | undefined;
  try {
    check = await checkFleet(inventory, {
      ...options,
      onTransfer: (host, done, total) => {
        reporter.transfer(host, done, total, "the agent");
      },
    });
    log.info({ hosts: inventory.hosts.length, failed: check.failed }, "phase: checks done");
    if (check.failed) return { kind: "checks-failed", results: check.results };
    const sshBefore = sshBytes(check.connections);
    const delivery = planDelivery(inventory.hosts, archFrom(check.probes), bundle);
    const names = inventory.hosts.map((host) => host.name);
    const previous = unfinishedRun(journal, inventory.file, names);
    const runId = previous?.id ?? newRunId();
    if (previous === undefined) {
      journal.startRun({ id: runId, action: "apply", inventory: inventory.file, hosts: names });
    } else {
      reporter.note(`resuming run ${runId}: its provisioner stopped before the run ended`);
    }
    log.info({ runId, resumed: previous !== undefined, hosts: names.length }, "run started");
    const tracker = new RunTracker(names, options.hostGraceMs, (host) => {
      // A timer's callback: a journal that cannot be written (disk full) must not take `up` down.
      try {
        journal.markHostLost(runId, host, `no contact for ${Math.round(options.hostGraceMs / 1000)} s`);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        reporter.note(`${host}: lost, but not marked so in the journal: ${why}`);
      }
      reporter.phase(host, "lost: the agent did not report in time", "lost");
    });
    for (const status of previous === undefined ? [] : journal.hostStatus(runId)) {
      if (status.state === "succeeded" || status.state === "failed")
        tracker.settled(status.host, status.state);
    }

    const pki = await Pki.open(options.stateDir);
    await pki.ensureCa();
    const connections = check.connections;
    const dialAddress = (connection: HostConnection): string =>
      inventory.provisioner.address ?? connection.session.localAddress;
    const addresses = [...new Set([...connections.values()].map(dialAddress))];
    const tls = await pki.issueServerCert(addresses);
    redactor.add(new Secret(tls.keyPem));
    const sink = loggedSink(redactingSink(journal, redactor), log);
    const plans = new Map<string, Plan>();
    const uploaded = { bytes: 0 };
    const contact = new HostContact({
      tracker,
      markLost: (host, reason) => {
        journal.markHostLost(runId, host, reason);
      },
      report: (host, text) => {
        reporter.phase(host, text);
      },
      deadlineMs: DEFAULT_DEADLINE_MS,
      graceMs: options.hostGraceMs,
    });
    server = await AgentServer.listen({
      host: "0.0.0.0",
      port: options.port,
      tls: { cert: tls.certPem, key: tls.keyPem, ca: tls.caPem },
      hosts: new Set(names),
      isRevoked: (serial) => pki.isRevoked(serial),
      sink,
      log,
      onHello: (host, hello) => {
        if (hello.protocol !== PROTOCOL_VERSION) {
          return { reject: "PROTOCOL_MISMATCH", message: `provisioner speaks protocol ${PROTOCOL_VERSION}` };
        }
        const plan = plans.get(host);
        if (hello.runId !== runId || plan === undefined) {
          return { reject: "UNKNOWN_RUN", message: `run ${hello.runId} is not the current run` };
        }
        contact.welcomed(host);
        return { plan, ackedSeq: journal.lastSeq(runId, host) };
      },
      onEvent: (envelope) => {
        reporter.event(envelope);
        tracker.event(envelope);
      },
      onHostDisconnected: (host) => {
        contact.disconnected(host);
      },
      onHostLost: (host) => {
        contact.silent(host);
      },
      onAgentError: (error) => {
        reporter.note(`agent error: ${error.message}`);
      },
      onJournalOutage: (notice) => {
        reporter.note(describeJournalOutage(notice, journal.path));
      },
      artifacts: artifactLookup(delivery),
    });
    const cut = await cutOnRevocation({ pki, server, journal, runId, hosts: names, tracker, reporter });
    revocations = cut;
    const abort = (): void => {
      tracker.abandon();
    };
    options.signal?.addEventListener("abort", abort, { once: true });

    const port = server.address().port;
    const layout = clusterLayout(inventory, delivery);
    const images = await bundleImages(bundle);
    const manifests = clusterManifests({
      ports: inventory.cluster,
      gpu: inventory.hosts.some((host) => host.vars.gpu),
      images,
      ...(layout.registryEndpoint === undefined ? {} : { registryEndpoint: layout.registryEndpoint }),
      addons,
      ...(inventory.storage.nfs === undefined ? {} : { nfs: inventory.storage.nfs }),
    });
    for (const skipped of manifests.skipped) reporter.note(`servers: skipped ${skipped}`);
    const k3sHosts = new Set<string>();
    for (const host of inventory.hosts) {
      const connection = connections.get(host.name);
      if (connection === undefined) continue;
      const provisionerUrl = `https://${dialAddress(connection)}:${port}`;
      const installs = installSteps(host, inventory, delivery, layout, images, manifests);
      for (const skipped of installs.skipped) reporter.note(`${host.name}: skipped ${skipped}`);
      if (plansK3s(installs.steps)) k3sHosts.add(host.name);
      plans.set(
        host.name,
        planFor(runId, host, "apply", fetchStep(host, delivery, provisionerUrl), installs.steps),
      );
    }
    const secrets: HostSecrets = {
      ...(k3sHosts.size > 0 ? { token: await resolveToken(inventory.cluster.token, options.stateDir) } : {}),
      ...(layout.depot !== undefined && layout.registryEndpoint !== undefined && layout.registryTls
        ? { registryCert: await pki.issueRegistryCert(registryNames(layout.depot)) }
        : {}),
    };
    if (secrets.token !== undefined) redactor.add(secrets.token);
    if (secrets.registryCert !== undefined) redactor.add(new Secret(secrets.registryCert.keyPem));
    const context = (connection: HostConnection): StartContext => ({
      runId,
      url: `wss://${dialAddress(connection)}:${port}${AGENT_PATH}`,
      pki,
      options,
      tracker,
      resumed: previous !== undefined,
      delivery,
      agentPath: undefined,
      uploaded,
      secrets,
      k3sHosts,
      revoked: cut.revoked,
    });
    await runPhases(inventory.hosts, layout, options, tracker, async (host) => {
      const connection = connections.get(host.name);
      if (connection === undefined) return;
      await startAgent(host, connection, {
        ...context(connection),
        agentPath: agentPathOf(check?.probes.get(host.name)),
      });
    });
    const outcomes = await tracker.done;
    log.info({ outcomes: Object.fromEntries(outcomes) }, "phase: every host finished");
    sink.summary();
    options.signal?.removeEventListener("abort", abort);
    let failed = [...outcomes.values()].some((outcome) => outcome !== "succeeded");
    const first = layout.firstServer === undefined ? undefined : connections.get(layout.firstServer.name);
    const cluster =
      failed || k3sHosts.size === 0 || first === undefined || layout.firstServer === undefined
        ? undefined
        : await verifyCluster(first, layout.firstServer, options, {
            hosts: inventory.hosts.filter((host) => k3sHosts.has(host.name)),
            devicePlugin: manifests.manifests.some((manifest) => manifest.name === DEVICE_PLUGIN_MANIFEST),
            storageClasses: inventory.storage.nfs === undefined ? [] : [inventory.storage.nfs.storageClass],
            addons: addons.map((addon) => addon.name),
            ...(layout.depot === undefined || layout.registryEndpoint === undefined
              ? {}
              : {
                  registry: {
                    depot: layout.depot.name,
                    endpoint: layout.registryEndpoint,
                    images: images.length,
                  },
                }),
          });
    if (cluster?.ok === false) failed = true;
    journal.finishRun(
      runId,
      options.signal?.aborted === true ? "interrupted" : failed ? "failed" : "succeeded",
    );
    const uplink: Uplink = {
      sshBytes: sshBytes(connections) - sshBefore,
      artifactsOverSsh: uploaded.bytes,
      artifactsOverHttps: server.artifactBytesServed,
    };
    return {
      kind: "ran",
      runId,
      resumed: previous !== undefined,
      outcomes,
      uplink,
      ...(cluster === undefined ? {} : { cluster }),
    };
  } finally {
    await revocations?.close();
    await server?.close();
    if (check !== undefined) closeAll(check.connections);
    journal.close();
  }
}

interface StartContext {
  readonly runId: string;
  /** Where this host's agent dials: the provisioner as the host sees it (SSH local address, or the inventory's override). */
  readonly url: string;
  readonly pki: Pki;
  readonly options: UpOptions;
  readonly tracker: RunTracker;
  /** Hosts revoked (`groundcrew pki revoke`) while this run ran: they get no new certificate. */
  readonly revoked: ReadonlySet<string>;
  readonly resumed: boolean;
  readonly delivery: Delivery;
  /** The agent in the login user's cache (from the probe): runs the store commands before the unit exists. */
  readonly agentPath: string | undefined;
  /** Artifact bytes sent to the depot over SSH, summed. */
  readonly uploaded: { bytes: number };
  readonly secrets: HostSecrets;
  /** Hosts whose plan installs k3s: they get the join token. */
  readonly k3sHosts: ReadonlySet<string>;
}

/** What the provisioner hands hosts over SSH (0600 files), never in a plan. */
interface HostSecrets {
  readonly token?: Secret;
  readonly registryCert?: ServerCertificate;
}

/** Addresses and names the fleet reaches the depot registry by, and loopback for the depot's own seeding. */
function registryNames(depot: InventoryHost): string[] {
  return [...new Set([depot.address, depot.name, "127.0.0.1", "localhost"])];
}

/**
 * Starts the agents phase by phase (DESIGN.md order: the depot, the first
 * server, the other servers one at a time, then the workers in parallel up
 * to the concurrency) and waits for each phase to finish before the next:
 * joining hosts need the first server, and every host needs the depot. When
 * a host of a phase does not succeed, later phases are not started; their
 * hosts are reported and settled as failed.
 */
async function runPhases(
  hosts: readonly InventoryHost[],
  layout: ClusterLayout,
  options: UpOptions,
  tracker: RunTracker,
  start: (host: InventoryHost) => Promise<void>,
): Promise<void> {
  const ordered = phases(hosts);
  const log = options.log ?? silentLogger;
  for (const [index, phase] of ordered.entries()) {
    log.info(
      { phase: index + 1, of: ordered.length, hosts: phase.map((host) => host.name) },
      "phase: started",
    );
    const joiningServers = phase.every(
      (host) => host.role === "server" && host.name !== layout.firstServer?.name && !host.depot,
    );
    const outcomes = await mapLimit(phase, joiningServers ? 1 : options.concurrency, async (host) => {
      await start(host);
      return tracker.finished(host.name);
    });
    const stopped = phase.filter((_, at) => {
      const outcome = outcomes[at];
      return outcome?.status !== "fulfilled" || outcome.value !== "succeeded";
    });
    if (stopped.length === 0) continue;
    log.warn(
      { phase: index + 1, stopped: stopped.map((host) => host.name) },
      "phase: later phases not started",
    );
    const why = `not started: ${stopped.map((host) => host.name).join(", ")} did not succeed`;
    for (const later of ordered.slice(index + 1).flat()) {
      options.reporter.phase(later.name, why, "failed");
      tracker.settled(later.name, "failed");
    }
    return;
  }
}

/**
 * The final verification phase: waits for every k3s host's node to be Ready
 * on the first server, brings node labels and taints in line with the
 * inventory, saves the kubeconfig, then waits for what the plan deployed
 * (GPUs offered, storage classes, add-ons) and reports what is ready.
 */
async function verifyCluster(
  first: HostConnection,
  server: InventoryHost,
  options: UpOptions,
  expected: ClusterExpectations,
): Promise<ClusterOutcome> {
  const { reporter } = options;
  const names = expected.hosts.map((host) => host.name);
  const log = options.log ?? silentLogger;
  log.info({ nodes: names.length }, "phase: cluster verification");
  reporter.phase(server.name, `cluster: waiting for ${names.length} node(s) to be Ready`);
  try {
    const nodes = await waitForNodes(first.root, names, NODES_READY_TIMEOUT_MS);
    const synced = await syncNodeMetadata(first.root, expected.hosts, nodes.nodes);
    for (const change of synced.changes) reporter.phase(server.name, `cluster: ${change}`);
    const kubeconfig = await saveKubeconfig(options.stateDir, await fetchKubeconfig(first.root, server));
    reporter.phase(
      server.name,
      `cluster: all ${nodes.ready.length} node(s) Ready; checking GPUs, storage and add-ons`,
    );
    const found = await waitForClusterReport(first.root, expected, CLUSTER_READY_TIMEOUT_MS, synced.changes);
    const report = { ...found, problems: [...synced.problems, ...found.problems] };
    if (report.problems.length > 0) {
      const problem = report.problems.join("; ");
      reporter.phase(server.name, `cluster: ${problem}`, "failed");
      return { ok: false, problem, report };
    }
    reporter.phase(server.name, `cluster: ready; kubeconfig in ${kubeconfig}`);
    return { ok: true, nodes: nodes.ready.length, kubeconfig, report };
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    log.error(errorFields(error), "cluster verification failed");
    reporter.phase(server.name, `cluster: ${problem}`, "failed");
    return { ok: false, problem };
  }
}

/**
 * Starts one host's agent with a new certificate (HOST_CERT_VALIDITY_DAYS).
 * On resume, an agent already running for the run is left running unless
 * its certificate is due (`Pki.hostCertDue`): then it is installed again with
 * a new one. A host revoked during the run is not started. A failure marks
 * that host failed, not the run aborted.
 */
async function startAgent(
  host: InventoryHost,
  connection: HostConnection,
  context: StartContext,
): Promise<void> {
  const { reporter } = context.options;
  try {
    const isDepot = context.delivery.depot?.name === host.name;
    if (isDepot) await fillDepot(host, connection, context);
    if (context.revoked.has(host.name)) return;
    if (context.resumed && (await agentServes(connection, context.runId))) {
      if (!(await context.pki.hostCertDue(host.name))) {
        reporter.phase(host.name, "agent still running: waiting for it to report");
        context.tracker.expect(host.name);
        return;
      }
      reporter.phase(host.name, "agent still running, its certificate expires soon: installing a new one");
    }
    await deliverSecrets(host, connection, context);
    reporter.phase(host.name, "installing the agent");
    const identity = await context.pki.issueHostCert(host.name);
    context.options.redactor?.add(new Secret(identity.keyPem));
    // Revoked while this host was being prepared: its new certificate stays unused.
    if (context.revoked.has(host.name)) return;
    const installed = await installAgent(
      connection,
      context.options.agent,
      { caPem: identity.caPem, certPem: identity.certPem, keyPem: identity.keyPem },
      {
        host: host.name,
        runId: context.runId,
        servers: [context.url],
        tls: AGENT_TLS_FILES,
        stateDir: AGENT_STATE_DIR,
      },
    );
    if (isDepot) {
      const fleet = context.options.inventory.hosts.map((item) => item.name);
      await startDepotService(
        connection.root,
        host.name,
        depotConfig(fleet),
        installed.binaryChanged || installed.tlsChanged,
      );
      reporter.phase(host.name, "depot serving the artifact store to the fleet");
    }
    reporter.phase(host.name, `agent started${installedNote(installed)}: waiting for it to dial back`);
    context.tracker.expect(host.name);
  } catch (error) {
    const message =
      error instanceof GroundcrewError || error instanceof Error ? error.message : String(error);
    (context.options.log ?? silentLogger).error(
      { host: host.name, ...errorFields(error) },
      "agent not started",
    );
    reporter.phase(host.name, `FAILED to start the agent: ${message}`, "failed");
    context.tracker.settled(host.name, "failed");
  }
}

/** Writes the join token (k3s hosts) and the registry's certificate and key (the depot) as 0600 files, over SSH stdin. */
async function deliverSecrets(
  host: InventoryHost,
  connection: HostConnection,
  context: StartContext,
): Promise<void> {
  const { token, registryCert } = context.secrets;
  if (token !== undefined && context.k3sHosts.has(host.name)) {
    await installRemoteFile(connection.root, host.name, K3S_TOKEN_FILE, `${token.reveal()}\n`, 0o600);
  }
  if (registryCert !== undefined && context.delivery.depot?.name === host.name) {
    await installRemoteFile(connection.root, host.name, REGISTRY_TLS_FILES.cert, registryCert.certPem, 0o644);
    await installRemoteFile(connection.root, host.name, REGISTRY_TLS_FILES.key, registryCert.keyPem, 0o600);
  }
}

function installedNote(installed: InstalledAgent): string {
  if (!installed.binaryChanged) return "";
  if (installed.bytesSent === 0) return " (new build installed from the host's cache)";
  return ` (new build installed, ${(installed.bytesSent / 1048576).toFixed(0)} MiB sent)`;
}

/** Sends the depot every artifact some host needs that it does not hold yet (resuming partial ones). */
async function fillDepot(
  host: InventoryHost,
  connection: HostConnection,
  context: StartContext,
): Promise<void> {
  const stock = context.delivery.depotStock;
  if (stock.length === 0) return;
  if (context.agentPath === undefined) throw new Error("the agent was not found on the depot");
  const { reporter } = context.options;
  const total = stock.reduce((sum, artifact) => sum + artifact.entry.size, 0);
  reporter.phase(host.name, `depot: storing ${stock.length} artifact(s), ${formatBytes(total)}`);
  const result = await uploadArtifacts(connection.root, host.name, context.agentPath, stock, (done, all) => {
    reporter.transfer(host.name, done, all, "artifacts");
  });
  context.uploaded.bytes += result.bytesSent;
  reporter.phase(
    host.name,
    `depot: ${result.sent} artifact(s) sent (${formatBytes(result.bytesSent)}), ${result.alreadyThere} already there`,
  );
}

/** Verifies the bundle; a tar's artifacts are kept in the state directory's store to be sent on. */
async function verifyIfGiven(
  options: Pick<UpOptions, "bundle" | "reporter" | "stateDir" | "log">,
): Promise<VerifiedBundle | undefined> {
  if (options.bundle === undefined) return undefined;
  const { location, trustedKeys } = options.bundle;
  const started = Date.now();
  const verified = await verifyBundle(location, {
    trustedKeys,
    keepIn: path.join(options.stateDir, "artifacts"),
  });
  const signature =
    verified.signature.state === "verified"
      ? `signature verified (key ${verified.signature.keyId})`
      : verified.signature.state === "unchecked"
        ? `signed by key ${verified.signature.keyId} (not checked: no trusted key configured)`
        : "not signed";
  (options.log ?? silentLogger).info(
    {
      bundle: verified.manifest.name,
      artifacts: verified.artifacts.length,
      bytes: verified.totalBytes,
      signature: verified.signature.state,
      ms: Date.now() - started,
    },
    "bundle verified",
  );
  options.reporter.note(
    `bundle ${verified.manifest.name}: ${verified.artifacts.length} artifact(s), ${formatBytes(verified.totalBytes)}, every sha256 matches; ${signature}`,
  );
  return verified;
}

function archFrom(probes: ReadonlyMap<string, HostProbe>): (host: InventoryHost) => string {
  return (host) => {
    const probe = probes.get(host.name);
    return probe?.ok === true ? probe.facts.arch : "unknown";
  };
}

function agentPathOf(probe: HostProbe | undefined): string | undefined {
  return probe?.ok === true ? probe.agentPath : undefined;
}

function sshBytes(connections: ReadonlyMap<string, HostConnection>): number {
  return [...connections.values()].reduce((sum, connection) => sum + connection.session.bytesWritten, 0);
}
