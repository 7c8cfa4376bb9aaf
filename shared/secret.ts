import { inspect } from "node:util";

const REDACTED = "[redacted]";

/**
 * A secret string (password, token). The only way to the text is `reveal()`:
 * every conversion a log line, error message, template literal, JSON.stringify
 * or util.inspect would use yields "[redacted]", and the text is kept in a
 * private field, so it is not an enumerable or clonable property either.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret text. Call it only where the secret is used, never to display it. */
  reveal(): string {
    return this.#value;
  }

  /** Whether both hold the same text. */
  equals(other: Secret): boolean {
    return this.#value === other.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
