import type { Command } from "commander";
import { existsSync } from "node:fs";
import path from "node:path";
import { GroundcrewError } from "../../../shared/errors.js";
import { assertCertHostName } from "../../pki/names.js";
import { Pki, type IssuedCertificate } from "../../pki/pki.js";
import { stateDirPath } from "../../state-dir.js";
import type { CliIo } from "../io.js";
import { renderTable } from "../table.js";

/** The PKI of the state directory, or undefined when none was ever made there (nothing is created). */
async function existingPki(stateDir: string): Promise<Pki | undefined> {
  return existsSync(path.join(stateDir, "pki")) ? Pki.open(stateDir) : undefined;
}

function stateOf(cert: IssuedCertificate, now: Date): string {
  if (cert.revokedAt !== undefined) return `revoked ${cert.revokedAt.toISOString()}`;
  return cert.notAfter <= now ? "expired" : "valid";
}

/**
 * `groundcrew pki list` and `groundcrew pki revoke HOST`, on the state
 * directory's PKI. Revoking writes revoked.json; a `groundcrew up` running
 * from the same state directory notices it within about a second, cuts the
 * host's live agent session and refuses its certificates from then on.
 */
export function registerPkiCommands(program: Command, io: CliIo): void {
  const pki = program.command("pki").description("the provisioner's certificates for agents");

  pki
    .command("list")
    .description("every host certificate the state directory remembers: serial, expiry, revoked or not")
    .option("--json", "print as JSON")
    .action(async (flags: { json?: boolean }) => {
      const opened = await existingPki(stateDirPath());
      const certs = opened === undefined ? [] : await opened.certificates();
      const now = new Date();
      if (flags.json === true) {
        io.out(
          `${JSON.stringify({ certificates: certs.map((cert) => ({ ...cert, state: stateOf(cert, now) })) })}\n`,
        );
        return;
      }
      if (certs.length === 0) {
        io.out(`no host certificates issued from ${stateDirPath()}\n`);
        return;
      }
      io.out(
        `${renderTable(
          ["host", "serial", "expires", "state"],
          certs.map((cert) => [cert.host, cert.serial, cert.notAfter.toISOString(), stateOf(cert, now)]),
        )}\n`,
      );
    });

  pki
    .command("revoke")
    .description("revoke every current certificate of HOST; a running `up` cuts its agent's session at once")
    .argument("<host>", "the host's name, as in the inventory")
    .action(async (host: string) => {
      assertCertHostName(host);
      const stateDir = stateDirPath();
      const opened = await existingPki(stateDir);
      if (opened === undefined) {
        throw new GroundcrewError(
          "PKI_HOST_UNKNOWN",
          `no certificate was issued to ${host}: ${stateDir} has no PKI yet`,
          { context: { host, dir: stateDir } },
        );
      }
      const serials = await opened.revoke(host);
      io.out(
        serials.length === 0
          ? `${host}: no current certificate left to revoke (already revoked or expired)\n`
          : `${host}: revoked ${serials.length} certificate(s): ${serials.join(", ")}\n` +
              "a running `groundcrew up` cuts its agent's session and refuses it from now on; " +
              "a later `up` that includes the host issues it a new certificate\n",
      );
    });
}
