import type { Exec } from "./host-io.js";

/**
 * Privilege as a wrapper, not a flag: the returned Exec runs every command
 * through `sudo -n` (never prompts; a sudo that wants a password fails fast
 * with a non-zero exit and says so on stderr).
 */
export function withSudo(exec: Exec): Exec {
  return {
    run: (argv, options) => exec.run(["sudo", "-n", "--", ...argv], options),
  };
}

/**
 * Like withSudo for accounts whose sudo needs a password: the password goes
 * to sudo on standard input (`-S`, empty prompt), ahead of the command's own
 * input, so it never appears in an argument list, a log or an error.
 */
export function withSudoPassword(exec: Exec, password: { reveal(): string }): Exec {
  return {
    run: (argv, options = {}) =>
      exec.run(["sudo", "-S", "-p", "", "--", ...argv], {
        ...options,
        input: `${password.reveal()}\n${options.input ?? ""}`,
      }),
  };
}
