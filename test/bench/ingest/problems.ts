import type { Connected, Streamed } from "./agents-protocol.js";
import type { Phase } from "./harness.js";

/** Sentences for the notes about what went wrong in a phase (nothing when nothing did). */
export function describeProblems(label: string, phase: Phase<Connected | Streamed>): string[] {
  const notes: string[] = [];
  const clientErrors = Object.entries(phase.agents.errorCounts);
  if (clientErrors.length > 0) {
    notes.push(
      `${label}: the agents saw ${clientErrors.map(([message, count]) => `${count}× "${message}"`).join(", ")}.`,
    );
  }
  if (phase.agents.disconnects > 0)
    notes.push(`${label}: ${phase.agents.disconnects} connection(s) dropped and redialed.`);
  const serverErrors = Object.entries(phase.after.errorCounts).map(
    ([code, count]) => [code, count - (phase.before.errorCounts[code] ?? 0)] as const,
  );
  const fresh = serverErrors.filter(([, count]) => count > 0);
  if (fresh.length > 0) {
    notes.push(
      `${label}: the provisioner reported ${fresh.map(([code, count]) => `${count}× ${code}`).join(", ")} (first: ${phase.after.errorSamples[0] ?? "?"}).`,
    );
  }
  return notes;
}
