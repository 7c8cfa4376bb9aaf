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
 *
 * The password must only be written when sudo will read it: a sudo that does
 * not ask would hand it to the command as input (into a file the command
 * writes). So the first call asks `sudo -n true` once: when the account needs
 * no password after all (a NOPASSWD rule), every command runs as withSudo's;
 * otherwise every command runs with `-k`, which makes sudo ignore cached
 * credentials and so always read the password it is given.
 */
export function withSudoPassword(exec: Exec, password: { reveal(): string }): Exec {
  let needsPassword: Promise<boolean> | undefined;
  const passwordless = withSudo(exec);
  return {
    run: async (argv, options = {}) => {
      needsPassword ??= exec
        .run(["sudo", "-n", "--", "true"], { timeoutMs: 30_000 })
        .then((result) => result.code !== 0);
      if (!(await needsPassword)) return passwordless.run(argv, options);
      return exec.run(["sudo", "-k", "-S", "-p", "", "--", ...argv], {
        ...options,
        input: `${password.reveal()}\n${options.input ?? ""}`,
      });
    },
  };
}
