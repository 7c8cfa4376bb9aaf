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
