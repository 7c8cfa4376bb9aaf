import type { AgentEvent } from "../../shared/protocol.js";

/**
 * Where the runner's events go. The runner awaits each emit before going on,
 * so a reporter that persists (the outbox) makes every event durable before
 * the next host change. A rejected emit aborts the run.
 */
export interface Reporter {
  emit(event: AgentEvent): Promise<void>;
}

export interface RecordingReporter extends Reporter {
  /** Every event emitted so far, in order. */
  readonly events: AgentEvent[];
  /** The kinds in order, with the step id where there is one: "step.started host.sysctl". */
  sequence(): string[];
}

/** Keeps events in memory: for tests. */
export function recordingReporter(): RecordingReporter {
  const events: AgentEvent[] = [];
  return {
    events,
    emit(event) {
      events.push(event);
      return Promise.resolve();
    },
    sequence: () => events.map((event) => ("stepId" in event ? `${event.kind} ${event.stepId}` : event.kind)),
  };
}

/** Writes each event as one line of JSON: for `groundcrew-agent run` on a real box. */
export function printingReporter(write: (text: string) => void): Reporter {
  return {
    emit(event) {
      write(`${JSON.stringify(event)}\n`);
      return Promise.resolve();
    },
  };
}
