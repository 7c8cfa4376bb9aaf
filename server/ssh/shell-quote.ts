/**
 * Quotes an argument vector for the POSIX shell that sshd runs a command in.
 * Each argument becomes one word, whatever it contains: single quotes, with
 * embedded single quotes written as '\''. Safe words are left bare for
 * readable logs.
 */
export function shellQuote(argv: readonly string[]): string {
  return argv.map(quoteWord).join(" ");
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

function quoteWord(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
