import { GroundcrewError } from "../../shared/errors.js";
import { terminalSafe } from "../../shared/terminal-safe.js";

/** One thing wrong with an inventory, at a 1-based line of its file. */
export interface InventoryProblem {
  readonly line: number;
  readonly message: string;
}

/** The error a bad inventory throws: every problem found, one per line of the message. */
export class InventoryInvalidError extends GroundcrewError {
  readonly problems: readonly InventoryProblem[];

  constructor(file: string, problems: readonly InventoryProblem[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(
      "INVENTORY_INVALID",
      [`inventory ${file} has ${count}:`, ...problems.map((p) => `${file}:${p.line}: ${p.message}`)].join(
        "\n",
      ),
      { context: { file, problems: problems.length } },
    );
    this.problems = problems;
  }
}

/**
 * Collects problems while an inventory is read, so that all of them are
 * reported at once. Messages must never contain secret values. They may quote
 * the file's text (a host name, an unknown key), so every control character
 * in them is shown escaped (terminalSafe): a message is one printable line.
 * The same message at the same line is kept once (group variables apply to many hosts).
 */
export class Problems {
  readonly #problems = new Map<string, InventoryProblem>();

  constructor(readonly file: string) {}

  add(line: number, message: string): void {
    const safe = terminalSafe(message);
    this.#problems.set(`${line}\u0000${safe}`, { line, message: safe });
  }

  get count(): number {
    return this.#problems.size;
  }

  /** Throws an InventoryInvalidError listing every problem, by line, when there is any. */
  throwIfAny(): void {
    if (this.#problems.size > 0) this.throw();
  }

  /** Throws an InventoryInvalidError listing every problem, by line (callers have added at least one). */
  throw(): never {
    const sorted = [...this.#problems.values()].sort((a, b) => a.line - b.line);
    throw new InventoryInvalidError(this.file, sorted);
  }
}
