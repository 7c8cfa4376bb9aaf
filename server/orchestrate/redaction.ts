import { GroundcrewError, isGroundcrewError } from "../../shared/errors.js";
import type { AgentEvent, EventEnvelope } from "../../shared/protocol.js";
import { Redactor } from "../../shared/redactor.js";
import type { Secret } from "../../shared/secret.js";
import type { Inventory } from "../inventory/types.js";
import type { JournalSink } from "../ws/journal-sink.js";
import type { UpReporter } from "./up.js";

/**
 * Where secrets are taken out of what `up` and `reset` write: every event
 * before the journal commits it (so neither the database nor its WAL ever
 * holds a secret) and before the terminal shows it, every phase and note
 * line, and errors on their way to the user. One Redactor per command run
 * knows the run's secrets; it learns the k3s token and private keys as they
 * are resolved or issued.
 */

/** The secrets an inventory holds (plaintext sudo passwords and token it opted in to) and the resolved sudo passwords. */
export function inventorySecrets(
  inventory: Pick<Inventory, "hosts" | "cluster">,
  sudoPasswords: ReadonlyMap<string, Secret> = new Map(),
): Secret[] {
  const secrets: Secret[] = [...sudoPasswords.values()];
  for (const host of inventory.hosts) {
    if (host.sudo.mode === "password" && host.sudo.value !== undefined) secrets.push(host.sudo.value);
  }
  if (inventory.cluster.token.source === "value") secrets.push(inventory.cluster.token.value);
  return secrets;
}

/** The options of `up` or `reset` with the run's Redactor (made when not given) and a reporter that redacts. */
export function withRedaction<
  T extends {
    readonly inventory: Pick<Inventory, "hosts" | "cluster">;
    readonly sudoPasswords?: ReadonlyMap<string, Secret>;
    readonly reporter: UpReporter;
    readonly redactor?: Redactor;
  },
>(options: T): T & { readonly redactor: Redactor } {
  const redactor = options.redactor ?? new Redactor();
  for (const secret of inventorySecrets(options.inventory, options.sudoPasswords)) redactor.add(secret);
  return { ...options, redactor, reporter: redactingReporter(options.reporter, redactor) };
}

/** Bounds of the protocol's text fields: a redacted text never grows past them (the journal would refuse it). */
const BOUNDS = { title: 200, text: 8000, message: 4000, code: 64 } as const;

function clipped(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The event with every host-supplied text redacted. Deterministic: a resent event redacts to the same one. */
export function redactEvent(event: AgentEvent, redactor: Redactor): AgentEvent {
  const text = (value: string, max: number = BOUNDS.text): string => clipped(redactor.redact(value), max);
  switch (event.kind) {
    case "run.started":
    case "run.finished":
      return event;
    case "step.started":
      return { ...event, title: text(event.title, BOUNDS.title) };
    case "step.skipped":
      return { ...event, reason: text(event.reason) };
    case "step.succeeded":
      return { ...event, changes: event.changes.map((change) => text(change)) };
    case "step.failed":
      return {
        ...event,
        error: {
          code: text(event.error.code, BOUNDS.code),
          message: text(event.error.message, BOUNDS.message),
        },
      };
    case "step.progress":
      return event.message === undefined ? event : { ...event, message: text(event.message) };
    case "step.log":
      return { ...event, line: text(event.line) };
  }
}

export function redactEnvelope(envelope: EventEnvelope, redactor: Redactor): EventEnvelope {
  return { ...envelope, event: redactEvent(envelope.event, redactor) };
}

/** A sink that commits each event redacted; the journal's duplicate check sees the redacted form on every resend. */
export function redactingSink(sink: JournalSink, redactor: Redactor): JournalSink {
  return {
    append: (envelope) => sink.append(redactEnvelope(envelope, redactor)),
    appendGroup: (envelopes) =>
      sink.appendGroup(envelopes.map((envelope) => redactEnvelope(envelope, redactor))),
  };
}

/** A reporter whose texts and events are redacted before `reporter` (the terminal) sees them. */
export function redactingReporter(reporter: UpReporter, redactor: Redactor): UpReporter {
  return {
    phase: (host, text, state) => {
      reporter.phase(host, redactor.redact(text), state);
    },
    event: (envelope) => {
      reporter.event(redactEnvelope(envelope, redactor));
    },
    transfer: (host, bytesDone, bytesTotal, what) => {
      reporter.transfer(host, bytesDone, bytesTotal, what);
    },
    note: (text) => {
      reporter.note(redactor.redact(text));
    },
  };
}

/**
 * The error as it may be shown: when its message or context holds a secret, a
 * GroundcrewError of the same code and retryability with them redacted and
 * without its cause (which may quote the secret too); otherwise the error itself.
 */
export function redactError(error: unknown, redactor: Redactor): unknown {
  if (!(error instanceof Error)) return typeof error === "string" ? redactor.redact(error) : error;
  const message = redactor.redact(error.message);
  const context = isGroundcrewError(error)
    ? Object.fromEntries(
        Object.entries(error.context).map(([key, value]) => [
          key,
          typeof value === "string" ? redactor.redact(value) : value,
        ]),
      )
    : {};
  const contextChanged =
    isGroundcrewError(error) && JSON.stringify(context) !== JSON.stringify(error.context);
  if (message === error.message && !contextChanged) return error;
  if (isGroundcrewError(error)) {
    return new GroundcrewError(error.code, message, { context, retryable: error.retryable });
  }
  return new Error(message);
}
