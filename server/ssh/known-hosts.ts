import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import type { HostKeyCheck } from "./host-key.js";

const fileSchema = z.record(z.string(), z.array(z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/)));

/**
 * SSH host keys pinned per "address:port", in `<stateDir>/known_hosts.json`
 * (0600). A host is pinned on first contact only when the caller consents
 * (`--accept-new-host-keys`); afterwards only the pinned key is accepted.
 */
export class KnownHosts {
  /** Saves run one after another: hosts reached in parallel pin concurrently. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly entries: Map<string, string[]>,
  ) {}

  static async open(stateDir: string): Promise<KnownHosts> {
    const file = path.join(stateDir, "known_hosts.json");
    const text = await readFile(file, "utf8").catch((error: unknown) => {
      if (error instanceof Error && "code" in error && error.code === "ENOENT") return "{}";
      throw error;
    });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new GroundcrewError("SSH_KNOWN_HOSTS_INVALID", `${file} is not valid JSON`, { cause });
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) throw new GroundcrewError("SSH_KNOWN_HOSTS_INVALID", `${file} is malformed`);
    return new KnownHosts(file, new Map(Object.entries(parsed.data)));
  }

  /** The check for one endpoint. With `acceptNew`, an endpoint seen for the first time is pinned once authenticated. */
  checkFor(address: string, port: number, acceptNew: boolean): HostKeyCheck {
    const key = `${address}:${port}`;
    const expected = (this.entries.get(key) ?? []).map((base64) => Buffer.from(base64, "base64"));
    return {
      expected,
      accepts: (presented) =>
        expected.length === 0 ? acceptNew : expected.some((pinned) => pinned.equals(presented)),
      confirmed: async (presented) => {
        if (expected.length === 0) await this.pin(address, port, [presented]);
      },
    };
  }

  /** Pins keys for an endpoint (replacing what was there) and saves the file atomically. */
  async pin(address: string, port: number, keys: readonly Buffer[]): Promise<void> {
    this.entries.set(
      `${address}:${port}`,
      keys.map((key) => key.toString("base64")),
    );
    const save = async (): Promise<void> => {
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const temp = `${this.file}.${process.pid}.tmp`;
      await writeFile(temp, `${JSON.stringify(Object.fromEntries(this.entries), null, 2)}\n`, {
        mode: 0o600,
      });
      await rename(temp, this.file);
    };
    this.saving = this.saving.then(save, save);
    await this.saving;
  }
}
