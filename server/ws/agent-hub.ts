import type { WebSocket } from "ws";
import { GroundcrewError } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import { AgentConnection, CLOSE, type Hello, type HelloDecision } from "./agent-connection.js";
import { GroupCommit, type GroupCommitOptions } from "./group-commit.js";
import type { JournalOutageNotice } from "./journal-outage.js";
import type { JournalSink } from "./journal-sink.js";
import type { PeerIdentity } from "./peer-identity.js";

export interface AgentHubOptions {
  readonly sink: JournalSink;
  /** See AgentServerOptions.onHello. */
  readonly onHello: (host: string, hello: Hello) => HelloDecision;
  readonly onEvent?: (envelope: EventEnvelope) => void;
  readonly onHostLost?: (host: string) => void;
  readonly onHostDisconnected?: (host: string) => void;
  /** Protocol violations, duplicates, journal and callback failures. Must not throw. */
  readonly report: (error: GroundcrewError) => void;
  /**
   * The journal stopped taking writes, or takes them again (once each per
   * outage). Without it, a "stalled" notice goes to `report` as a retryable
   * AGENT_JOURNAL_FAILED and "resumed" is not told.
   */
  readonly onJournalOutage?: (notice: JournalOutageNotice) => void;
  readonly now: () => number;
  /** A connection silent (no frame, no pong) for longer than this is terminated and its host reported lost. */
  readonly deadlineMs: number;
  /** How long a closing connection may take to finish the close handshake before it is destroyed. */
  readonly closeGraceMs: number;
  /** When groups are committed and how big they may be (see GroupCommitOptions); defaults suit production. */
  readonly groupCommit?: Pick<GroupCommitOptions, "schedule" | "maxEvents" | "maxBytes">;
}

/**
 * The agents' connections once their certificate was checked, whatever
 * carries them (AgentServer's TLS upgrades, a simulated link in tests).
 *
 * Contract: at most one live connection per host. A newcomer for a host
 * whose live connection was heard from within the deadline is refused
 * (`reject DUPLICATE_AGENT`, reported AGENT_DUPLICATE); a live connection
 * already silent past the deadline is taken to be dead, terminated, and
 * replaced. `tick` (every ping interval) retries the events held during a
 * journal outage (see AgentConnection), terminates the silent, closes
 * connections that never said hello, and pings the rest. It never throws:
 * callback failures are reported.
 *
 * Commits: every connection's events go through one GroupCommit over the
 * sink, so frames that arrive close together, from any connection, share
 * one journal transaction, and each connection is acked only after it.
 *
 * Journal outages: the sink is shared, so an outage is the hub's. It is
 * announced once when the first group is refused with a stall and once
 * when a group commits again with no connection left holding an event.
 * Retries go oldest stall first, as groups, and stop at the first group
 * still refused, so a full disk costs one failed transaction per tick, not
 * one per frame.
 */
export class AgentHub {
  readonly #all = new Set<AgentConnection>();
  readonly #live = new Map<string, AgentConnection>();
  readonly #commits: GroupCommit;
  #shuttingDown = false;
  #onDrained: () => void = () => undefined;

  constructor(private readonly options: AgentHubOptions) {
    this.#commits = new GroupCommit({
      ...options.groupCommit,
      sink: options.sink,
      now: options.now,
      onOutage: (notice) => {
        this.#announce(notice);
      },
    });
  }

  /** Takes a new WebSocket whose peer is `peer`; from here the connection is this hub's. */
  accept(ws: WebSocket, peer: PeerIdentity): void {
    const { options } = this;
    const connection = new AgentConnection(
      ws,
      peer,
      {
        commits: this.#commits,
        onHello: options.onHello,
        onEvent: (envelope) => options.onEvent?.(envelope),
        report: options.report,
        now: options.now,
        closeGraceMs: options.closeGraceMs,
      },
      (closed) => {
        this.#connectionClosed(closed);
      },
    );
    this.#all.add(connection);
    if (this.#shuttingDown) {
      connection.close(CLOSE.goingAway, "provisioner shutting down");
      return;
    }
    // A live connection already silent past the deadline is taken to be dead (the agent
    // noticed first and redialed); one that is closing is on its way out. Only a
    // connection that is really alive makes the newcomer a duplicate.
    const existing = this.#live.get(peer.host);
    if (existing !== undefined && !existing.closing) {
      if (options.now() - existing.lastHeard > options.deadlineMs) this.#lose(existing);
      else {
        options.report(
          new GroundcrewError(
            "AGENT_DUPLICATE",
            `${peer.host}: a second agent connected from ${peer.remote} while ${existing.remote} is live; refused`,
            {
              context: {
                host: peer.host,
                remote: peer.remote,
                liveRemote: existing.remote,
                serial: peer.serial,
              },
            },
          ),
        );
        connection.reject("DUPLICATE_AGENT", "another agent with this host's identity is connected");
        return;
      }
    }
    this.#live.set(peer.host, connection);
  }

  /** Hosts with a live connection (welcomed or not yet). */
  liveHosts(): string[] {
    return [...this.#live.keys()];
  }

  /** See AgentServer.revokeLive. */
  revokeLive(host: string): boolean {
    const connection = this.#live.get(host);
    if (connection === undefined) return false;
    this.#live.delete(host);
    connection.reject("REVOKED", "this agent's certificate was revoked");
    return true;
  }

  /** Every ping interval: retry held events, terminate the silent, drop those that never said hello, ping the rest. */
  tick(): void {
    this.#commits.retryHeld();
    const now = this.options.now();
    const { deadlineMs } = this.options;
    for (const connection of this.#all) {
      if (connection.closing) continue;
      if (now - connection.lastHeard > deadlineMs) this.#lose(connection);
      else if (!connection.welcomed && now - connection.openedAt > deadlineMs) {
        this.options.report(
          new GroundcrewError(
            "AGENT_PROTOCOL_VIOLATION",
            `${connection.host}: no hello within ${deadlineMs} ms`,
            {
              context: { host: connection.host, remote: connection.remote },
            },
          ),
        );
        connection.close(CLOSE.policy, "no hello in time");
      } else connection.ping();
    }
  }

  /**
   * Refuses newcomers from now on and closes every connection (1001).
   * Resolves when all are gone, or after the close grace at the latest.
   */
  shutDown(): Promise<void> {
    this.#shuttingDown = true;
    const drained = new Promise<void>((resolve) => {
      this.#onDrained = resolve;
      const grace = setTimeout(resolve, this.options.closeGraceMs);
      grace.unref();
    });
    for (const connection of this.#all) connection.close(CLOSE.goingAway, "provisioner shutting down");
    if (this.#all.size === 0) this.#onDrained();
    return drained;
  }

  #announce(notice: JournalOutageNotice): void {
    const { onJournalOutage } = this.options;
    if (onJournalOutage !== undefined) {
      this.#callback(() => {
        onJournalOutage(notice);
      });
    } else if (notice.kind === "stalled") {
      this.options.report(
        new GroundcrewError(
          "AGENT_JOURNAL_FAILED",
          `the journal refuses writes; events are held back, not acked: ${notice.error.message}`,
          { cause: notice.error, retryable: true, context: notice.error.context },
        ),
      );
    }
  }

  #connectionClosed(connection: AgentConnection): void {
    this.#all.delete(connection);
    this.#commits.forget(connection);
    if (this.#all.size === 0) this.#onDrained();
    if (this.#live.get(connection.host) === connection) this.#live.delete(connection.host);
    if (connection.runId !== "") this.#callback(() => this.options.onHostDisconnected?.(connection.host));
  }

  #lose(connection: AgentConnection): void {
    const wasWelcomed = connection.welcomed;
    if (this.#live.get(connection.host) === connection) this.#live.delete(connection.host);
    connection.terminate();
    if (wasWelcomed) this.#callback(() => this.options.onHostLost?.(connection.host));
  }

  #callback(call: () => void): void {
    try {
      call();
    } catch (cause) {
      this.options.report(
        new GroundcrewError("AGENT_CALLBACK_FAILED", "an AgentServer callback threw", { cause }),
      );
    }
  }
}
