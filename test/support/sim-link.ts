import type { WebSocket } from "ws";
import type { SeededRandom } from "./seeded-random.js";
import type { SimClock } from "./sim-clock.js";
import {
  CLOSED,
  CLOSING,
  CONNECTING,
  OPEN,
  SimSocket,
  type Frame,
  type Side,
  type SocketWire,
} from "./sim-socket.js";

/** Per-frame fault probabilities, on text frames and pings/pongs (close and FIN are never tampered with). */
export interface LinkFaults {
  /** The frame vanishes, and so does everything after it in that direction of that connection: a path gone silently dead. */
  readonly drop: number;
  /** A second copy arrives a little later. */
  readonly duplicate: number;
  /** The frame arrives after frames sent after it. */
  readonly reorder: number;
  /** A latency spike; the frames behind it wait (head-of-line blocking). */
  readonly delay: number;
  /** A copy is kept, to be injected later into another connection of the same host (`injectReplay`). */
  readonly replay: number;
}

export interface LinkTiming {
  /** One-way latency of a frame, uniform in [min, max] ms. */
  readonly minLatencyMs: number;
  readonly maxLatencyMs: number;
  /** A spike adds [min, max] ms. */
  readonly spikeMinMs: number;
  readonly spikeMaxMs: number;
  /** After `close()`, the closing end reports "close" this much later (handshake done, or cut short). */
  readonly closeHandshakeMs: number;
}

export interface LinkFigures {
  /** Text frames handed to the link. */
  frames: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  replayed: number;
  /** Frames that fell into a dead path (after a drop) or were sent during no connection at all. */
  vanished: number;
  dials: number;
  connections: number;
  refusedDials: number;
  timedOutDials: number;
}

/** The provisioner's side: takes each connection that reaches it (a socket that behaves as ws's server side). */
export interface SimServer {
  accept(socket: WebSocket, host: string, connectionId: number): void;
}

interface Direction {
  /** Frames keep their order (TCP): none is delivered before this time, unless reordered. */
  horizon: number;
  /** After a drop: everything sent this way vanishes. */
  silent: boolean;
}

interface Connection {
  readonly id: number;
  readonly host: string;
  readonly agent: SimSocket;
  server: SimSocket | undefined;
  readonly up: Direction;
  readonly down: Direction;
}

/**
 * A hostile network between agents and the provisioner, in virtual time.
 * Each host dials through `dialer(host)` (AgentClient's `openSocket`); a
 * connection reaches the provisioner only while one is up (`serverUp`),
 * else the dial is refused at once. Frames keep their order per direction
 * (as over TCP) unless a fault says otherwise; every fault is drawn from
 * the host's own seeded stream, so a run replays from its seed.
 *
 * Faults: per-frame drop (the path goes silent: only ping deadlines notice),
 * duplicate, reorder, latency spike, replay into a later connection; cuts
 * (`cut`: nothing gets through for a while, frames are held and arrive
 * after it, as TCP retransmits; dials time out); and the death of either
 * side, with or without a FIN reaching the other.
 */
export class SimLink {
  readonly figures: LinkFigures = {
    frames: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    replayed: 0,
    vanished: 0,
    dials: 0,
    connections: 0,
    refusedDials: 0,
    timedOutDials: 0,
  };
  #faulty = true;
  #server: SimServer | undefined;
  #nextId = 0;
  readonly #connections = new Set<Connection>();
  readonly #cuts = new Map<string, number>();
  readonly #replays = new Map<string, { readonly from: Side; readonly frame: Frame }[]>();

  constructor(
    private readonly clock: SimClock,
    private readonly faults: LinkFaults,
    readonly timing: LinkTiming,
    private readonly randomFor: (host: string) => SeededRandom,
  ) {}

  /** AgentClient's `openSocket` for `host`. */
  dialer(host: string): (url: string, options: { handshakeTimeout?: number }) => WebSocket {
    return (_url, options) => this.#dial(host, options.handshakeTimeout ?? 15_000).ws;
  }

  /** The provisioner listens again (after a restart). */
  serverUp(server: SimServer): void {
    this.#server = server;
  }

  /** The provisioner's process died: its sockets vanish; agents hear of it only if `fin` and their path is alive. */
  serverDown(fin: boolean): void {
    this.#server = undefined;
    for (const connection of this.#connections) {
      const end = connection.server;
      if (end === undefined || end.dead) continue;
      const wasOpen = end.readyState !== CLOSED;
      end.die();
      if (fin && wasOpen) this.#transmit(connection, "server", { kind: "fin" });
    }
  }

  /** `host`'s agent process died: as `serverDown`, for its sockets (dials in progress included). */
  agentDown(host: string, fin: boolean): void {
    for (const connection of this.#connections) {
      if (connection.host !== host || connection.agent.dead) continue;
      const wasConnected = connection.agent.readyState === OPEN || connection.agent.readyState === CLOSING;
      connection.agent.die();
      if (fin && wasConnected) this.#transmit(connection, "agent", { kind: "fin" });
    }
  }

  /** Nothing gets through to or from `host` for `ms`. */
  cut(host: string, ms: number): void {
    this.#cuts.set(host, Math.max(this.#cuts.get(host) ?? 0, this.clock.now() + ms));
  }

  /** No more faults from now on (paths already silent stay so, until their connection ends). */
  heal(): void {
    this.#faulty = false;
    this.#cuts.clear();
  }

  /** Injects one kept frame of `host` into its newest open connection, if there are both. */
  injectReplay(host: string): boolean {
    const kept = this.#replays.get(host) ?? [];
    let target: Connection | undefined;
    for (const connection of this.#connections) {
      if (
        connection.host === host &&
        connection.agent.readyState === OPEN &&
        connection.server?.readyState === OPEN
      ) {
        target = connection;
      }
    }
    const random = this.randomFor(host);
    const pick = kept.length === 0 ? undefined : kept[random.int(0, kept.length - 1)];
    if (target === undefined || pick === undefined) return false;
    const connection = target;
    this.figures.replayed += 1;
    this.#later(this.#latency(random), () => {
      this.#deliver(connection, pick.from === "agent" ? "server" : "agent", pick.frame);
    });
    return true;
  }

  /** Runs `task` `ms` from now. */
  #later(ms: number, task: () => void): void {
    this.clock.at(this.clock.now() + ms, task);
  }

  /** Sends `frame` from the `from` end of `connection`, through the faults. */
  #transmit(connection: Connection, from: Side, frame: Frame): void {
    const way = from === "agent" ? connection.up : connection.down;
    const to: Side = from === "agent" ? "server" : "agent";
    if (frame.kind === "text") this.figures.frames += 1;
    if (way.silent) {
      if (frame.kind === "text") this.figures.vanished += 1;
      return;
    }
    const random = this.randomFor(connection.host);
    const now = this.clock.now();
    let at = Math.max(now, way.horizon) + this.#latency(random);
    const cutUntil = this.#cuts.get(connection.host) ?? 0;
    if (cutUntil > now) at = Math.max(at, cutUntil + this.#latency(random));
    let inOrder = true;
    if (this.#faulty && frame.kind !== "close" && frame.kind !== "fin") {
      const { drop, duplicate, reorder, delay, replay } = this.faults;
      const roll = random.next();
      if (roll < drop) {
        way.silent = true;
        this.figures.dropped += 1;
        if (frame.kind === "text") this.figures.vanished += 1;
        return;
      } else if (roll < drop + delay) {
        at += random.int(this.timing.spikeMinMs, this.timing.spikeMaxMs);
        this.figures.delayed += 1;
      } else if (roll < drop + delay + reorder) {
        at += random.int(2, 6) * this.timing.maxLatencyMs;
        inOrder = false;
        this.figures.reordered += 1;
      } else if (roll < drop + delay + reorder + duplicate) {
        const copyAt = at + this.#latency(random);
        this.clock.at(copyAt, () => {
          this.#deliver(connection, to, frame);
        });
        this.figures.duplicated += 1;
      } else if (roll < drop + delay + reorder + duplicate + replay && frame.kind === "text") {
        const kept = this.#replays.get(connection.host) ?? [];
        if (kept.length >= 32) kept.shift();
        kept.push({ from, frame });
        this.#replays.set(connection.host, kept);
      }
    }
    if (inOrder) way.horizon = at;
    this.clock.at(at, () => {
      this.#deliver(connection, to, frame);
    });
  }

  #wire(connection: () => Connection, side: Side): SocketWire {
    return {
      send: (frame) => {
        this.#transmit(connection(), side, frame);
      },
      later: (ms, task) => {
        this.#later(ms, task);
      },
      released: () => {
        this.#release(connection());
      },
      closeHandshakeMs: this.timing.closeHandshakeMs,
    };
  }

  #latency(random: SeededRandom): number {
    return random.int(this.timing.minLatencyMs, this.timing.maxLatencyMs);
  }

  #dial(host: string, handshakeTimeoutMs: number): SimSocket {
    const id = ++this.#nextId;
    const connection: Connection = {
      id,
      host,
      agent: new SimSocket(
        "agent",
        this.#wire(() => connection, "agent"),
      ),
      server: undefined,
      up: { horizon: 0, silent: false },
      down: { horizon: 0, silent: false },
    };
    this.#connections.add(connection);
    this.figures.dials += 1;
    const random = this.randomFor(host);
    // TCP, TLS 1.3 and the HTTP upgrade: three round trips before either side may send a frame.
    let handshake = 0;
    for (let i = 0; i < 6; i++) handshake += this.#latency(random);
    const giveUpAt = this.clock.now() + handshakeTimeoutMs;
    const attempt = (): void => {
      const agent = connection.agent;
      if (agent.readyState !== CONNECTING || agent.dead) {
        this.#release(connection);
        return;
      }
      const cutUntil = this.#cuts.get(host) ?? 0;
      if (cutUntil > this.clock.now()) {
        if (cutUntil + handshake <= giveUpAt) this.clock.at(cutUntil + handshake, attempt);
        else {
          this.clock.at(giveUpAt, () => {
            this.figures.timedOutDials += 1;
            agent.failed("Opening handshake has timed out");
            this.#release(connection);
          });
        }
        return;
      }
      const server = this.#server;
      if (server === undefined) {
        this.figures.refusedDials += 1;
        agent.failed("connect ECONNREFUSED");
        this.#release(connection);
        return;
      }
      const end = new SimSocket(
        "server",
        this.#wire(() => connection, "server"),
      );
      end.readyState = OPEN;
      connection.server = end;
      this.figures.connections += 1;
      server.accept(end.ws, host, id);
      agent.opened();
    };
    this.#later(handshake, attempt);
    return connection.agent;
  }

  #deliver(connection: Connection, to: Side, frame: Frame): void {
    const end = to === "agent" ? connection.agent : connection.server;
    if (end === undefined || end.dead || end.readyState === CLOSED) {
      this.#release(connection);
      return;
    }
    switch (frame.kind) {
      case "text":
        end.emit("message", Buffer.from(frame.text), false);
        break;
      case "ping":
        end.emit("ping", Buffer.alloc(0));
        if (end.readyState === OPEN) this.#transmit(connection, to, { kind: "pong" });
        break;
      case "pong":
        end.emit("pong", Buffer.alloc(0));
        break;
      case "close":
        end.closed(frame.code, frame.reason);
        break;
      case "fin":
        end.closed(1006, "");
        break;
    }
    this.#release(connection);
  }

  /** Forgets a connection both of whose ends are gone (frames still on their way find them closed). */
  #release(connection: Connection): void {
    const gone = (end: SimSocket | undefined): boolean => end === undefined || end.readyState === CLOSED;
    if (gone(connection.agent) && gone(connection.server)) this.#connections.delete(connection);
  }
}
