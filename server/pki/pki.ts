import path from "node:path";
import { GroundcrewError } from "../../shared/errors.js";
import { ensurePrivateDir } from "../state-dir.js";
import { CA_FILES, loadOrCreateCa, type LoadedCa } from "./ca-store.js";
import { buildLeafCertificate, newKeyPair } from "./cert-builder.js";
import { assertCertHostName, parseSubjectAltName, sanKey } from "./names.js";
import { PkiFiles } from "./pki-files.js";
import { normalizeSerial } from "./serial.js";
import { REGISTRY_LOCK, withRegistryLock } from "./registry-lock.js";
import {
  emptyIssued,
  emptyRevoked,
  issuedFileSchema,
  mergeRevoked,
  parseRegistry,
  recordIssued,
  revokeHost,
  revokedFileSchema,
  type IssuedFile,
  type RevokedFile,
} from "./serial-registry.js";
import {
  REGISTRY_CERT,
  SERVER_CERT_RENEW_BEFORE_DAYS,
  SERVER_CERT_VALIDITY_DAYS,
  SERVER_FILES,
  reusableServerCert,
  type ServingCertKind,
} from "./server-cert-store.js";
import { DAY_MS, validityFor } from "./validity.js";

export const HOST_CERT_VALIDITY_DAYS = 7;
/**
 * A resumed `up` keeps a host's running agent only while the host's newest
 * unrevoked certificate has more than this left; otherwise it installs the
 * agent again with a new one.
 */
export const HOST_CERT_RENEW_BEFORE_DAYS = 2;
const REGISTRY_FILES = { issued: "issued.json", revoked: "revoked.json" } as const;

export interface PkiOptions {
  /** The clock every validity period and expiry check uses; tests move it to make expired certificates. */
  readonly now?: () => Date;
}

export interface CaCertificate {
  readonly certPem: string;
  readonly serial: string;
  readonly notAfter: Date;
}

/** TLS material for the provisioner's agent server. `keyPem` is secret: never log it. */
export interface ServerCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  /** The SANs the certificate carries (canonical: lowercased DNS names, compressed IPv6). */
  readonly sans: readonly string[];
  readonly serial: string;
  readonly notAfter: Date;
  /** True when the existing certificate was kept, false when a new one was issued. */
  readonly reused: boolean;
}

/** One host's agent identity, pushed to the host. `keyPem` is secret: never log it. */
export interface HostCertificate {
  readonly host: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
  /** Lowercase hex without leading zeros (compare with `normalizeSerial`). */
  readonly serial: string;
  readonly notAfter: Date;
}

/** One certificate issued to a host, as `certificates()` lists it. No key material. */
export interface IssuedCertificate {
  readonly host: string;
  /** Lowercase hex without leading zeros. */
  readonly serial: string;
  readonly notAfter: Date;
  /** When it was revoked, if it was. */
  readonly revokedAt?: Date;
}

/** A revocation `reloadRevoked` found on disk that this Pki did not know of. */
export interface NewRevocation {
  readonly host: string;
  readonly serial: string;
}

/**
 * The provisioner's certificate authority, kept in `<stateDir>/pki` (0700,
 * files 0600). The CA key is read into this object and returned by no
 * method. Operations run one at a time within one Pki. One provisioner
 * process (`up`) issues certificates from a state directory at a time; other
 * processes may revoke beside it (`groundcrew pki revoke`): revoking writes
 * only revoked.json, under `registry.lock`, and the provisioner picks the
 * change up with `reloadRevoked`.
 */
export class Pki {
  #queue: Promise<unknown> = Promise.resolve();
  #ca: LoadedCa | undefined;

  private constructor(
    private readonly files: PkiFiles,
    private readonly now: () => Date,
    private revoked: RevokedFile,
  ) {}

  /** Opens (creating when missing) `<stateDir>/pki`. Throws PKI_STATE_INVALID when revoked.json is damaged. */
  static async open(stateDir: string, options: PkiOptions = {}): Promise<Pki> {
    await ensurePrivateDir(stateDir);
    const names = [
      ...Object.values(CA_FILES),
      ...Object.values(SERVER_FILES),
      ...Object.values(REGISTRY_FILES),
    ];
    const files = await PkiFiles.open(path.join(stateDir, "pki"), names);
    const text = await files.read(REGISTRY_FILES.revoked);
    const revoked =
      text === undefined
        ? emptyRevoked()
        : parseRegistry(revokedFileSchema, text, files.path(REGISTRY_FILES.revoked));
    return new Pki(files, options.now ?? (() => new Date()), revoked);
  }

  get dir(): string {
    return this.files.dir;
  }

  /** Loads the CA, creating it on first use. Throws PKI_STATE_INVALID (see `loadOrCreateCa`). */
  ensureCa(): Promise<CaCertificate> {
    return this.#serialized(async () => {
      const ca = await this.#loadCa();
      return {
        certPem: ca.certPem,
        serial: normalizeSerial(ca.x509.serialNumber),
        notAfter: new Date(ca.x509.validTo),
      };
    });
  }

  /**
   * The agent server's certificate for `sans` (IPs and DNS names agents
   * dial): the stored one when it is signed by this CA, covers every
   * requested SAN and has more than 7 days left; else a new one (30 days,
   * serverAuth, exactly the requested SANs) that replaces it. Throws
   * PKI_NAME_INVALID for an empty list or a name that is neither.
   */
  async issueServerCert(sans: readonly string[]): Promise<ServerCertificate> {
    return this.#issueServing(sans, {
      files: SERVER_FILES,
      renewBeforeDays: SERVER_CERT_RENEW_BEFORE_DAYS,
      validityDays: SERVER_CERT_VALIDITY_DAYS,
      commonName: "groundcrew provisioner",
    });
  }

  /**
   * The depot registry's certificate for `sans` (the addresses and names the
   * fleet pulls from, and 127.0.0.1): reused like the server's, renewed with
   * less than 90 days left; 825 days, serverAuth. Throws PKI_NAME_INVALID as
   * issueServerCert does.
   */
  async issueRegistryCert(sans: readonly string[]): Promise<ServerCertificate> {
    return this.#issueServing(sans, REGISTRY_CERT);
  }

  async #issueServing(
    sans: readonly string[],
    kind: ServingCertKind & { readonly validityDays: number; readonly commonName: string },
  ): Promise<ServerCertificate> {
    const wanted = [...new Map(sans.map(parseSubjectAltName).map((san) => [sanKey(san), san])).values()];
    if (wanted.length === 0) {
      throw new GroundcrewError("PKI_NAME_INVALID", "a server certificate needs at least one address");
    }
    return this.#serialized(async () => {
      const ca = await this.#loadCa();
      const now = this.now();
      const stored = await reusableServerCert(this.files, ca, new Set(wanted.map(sanKey)), now, kind);
      if (stored !== undefined) {
        const { certPem, keyPem, x509, sans: carried } = stored;
        const notAfter = new Date(x509.validTo);
        return {
          certPem,
          keyPem,
          caPem: ca.certPem,
          sans: carried,
          serial: normalizeSerial(x509.serialNumber),
          notAfter,
          reused: true,
        };
      }
      const keys = await newKeyPair();
      const validity = validityFor(now, kind.validityDays, new Date(ca.x509.validTo));
      const profile = { kind: "server", commonName: kind.commonName, sans: wanted } as const;
      const certPem = buildLeafCertificate(keys.publicKeyPem, profile, validity, ca);
      await this.files.write(kind.files.key, keys.privateKeyPem);
      await this.files.write(kind.files.cert, certPem);
      const values = wanted.map((san) => san.value);
      return {
        certPem,
        keyPem: keys.privateKeyPem,
        caPem: ca.certPem,
        sans: values,
        serial: validity.serial,
        notAfter: validity.notAfter,
        reused: false,
      };
    });
  }

  /**
   * A new certificate for `host` (CN=host, SAN hostServerName(host), client
   * and server auth, 7 days, random 16-byte serial) with a fresh key; its serial is recorded so `revoke(host)`
   * can find it. Throws PKI_NAME_INVALID for a name a CN cannot carry as is.
   */
  async issueHostCert(host: string): Promise<HostCertificate> {
    assertCertHostName(host);
    return this.#serialized(async () => {
      const ca = await this.#loadCa();
      const keys = await newKeyPair();
      const now = this.now();
      const validity = validityFor(now, HOST_CERT_VALIDITY_DAYS, new Date(ca.x509.validTo));
      const certPem = buildLeafCertificate(
        keys.publicKeyPem,
        { kind: "host", commonName: host },
        validity,
        ca,
      );
      const issued = recordIssued(await this.#readIssued(), host, validity.serial, validity.notAfter, now);
      await this.#writeJson(REGISTRY_FILES.issued, issued);
      const { serial, notAfter } = validity;
      return { host, certPem, keyPem: keys.privateKeyPem, caPem: ca.certPem, serial, notAfter };
    });
  }

  /**
   * Revokes every unexpired certificate issued to `host` and persists it in
   * revoked.json before returning the serials revoked now (empty when there
   * was none left to revoke). Holds `registry.lock` from reading revoked.json
   * to writing it, so revocations by other processes are kept. Throws
   * PKI_HOST_UNKNOWN, writing nothing, when neither registry file knows
   * `host`; PKI_BUSY when another process holds the lock too long. Live
   * sessions are not touched here: a provisioner in another process sees the
   * change through `reloadRevoked`; in this one, call
   * `AgentServer.revokeLive(host)`.
   */
  revoke(host: string): Promise<string[]> {
    return this.#serialized(() =>
      withRegistryLock(this.files.path(REGISTRY_LOCK), async () => {
        const onDisk = mergeRevoked(this.revoked, await this.#readRevoked()).merged;
        const issued = await this.#readIssued();
        const result = revokeHost(issued, onDisk, host, this.now());
        if (!result.knownHost) {
          const known = [...new Set([...Object.keys(issued.hosts), ...onDisk.revoked.map((e) => e.host)])];
          throw new GroundcrewError(
            "PKI_HOST_UNKNOWN",
            `no certificate was issued to ${host} from ${this.files.dir}` +
              (known.length === 0
                ? " (none was issued to any host)"
                : ` (hosts: ${known.sort().join(", ")})`),
            { context: { host, dir: this.files.dir } },
          );
        }
        await this.#writeJson(REGISTRY_FILES.revoked, result.revoked);
        this.revoked = result.revoked;
        return result.serials;
      }),
    );
  }

  /**
   * Reads revoked.json again and adds what another process revoked since to
   * what `isRevoked` answers from. Resolves with the revocations new to this
   * Pki (empty when none). Throws PKI_STATE_INVALID when the file is damaged;
   * what was known before stays revoked either way.
   */
  reloadRevoked(): Promise<NewRevocation[]> {
    return this.#serialized(async () => {
      const { merged, added } = mergeRevoked(this.revoked, await this.#readRevoked());
      this.revoked = merged;
      return added.map(({ host, serial }) => ({ host, serial }));
    });
  }

  /**
   * Every certificate either registry file remembers (expired ones are
   * dropped from them at the next issue or revocation), sorted by host and
   * expiry, revoked ones with their revocation time.
   */
  certificates(): Promise<IssuedCertificate[]> {
    return this.#serialized(async () => {
      const revoked = mergeRevoked(this.revoked, await this.#readRevoked()).merged.revoked;
      const when = new Map(revoked.map((entry) => [entry.serial, entry.revokedAt]));
      const listed = new Map<string, IssuedCertificate>();
      const add = (host: string, serial: string, notAfter: string): void => {
        const revokedAt = when.get(serial);
        listed.set(serial, {
          host,
          serial,
          notAfter: new Date(notAfter),
          ...(revokedAt === undefined ? {} : { revokedAt: new Date(revokedAt) }),
        });
      };
      for (const [host, entries] of Object.entries((await this.#readIssued()).hosts)) {
        for (const entry of entries) add(host, entry.serial, entry.notAfter);
      }
      for (const entry of revoked)
        if (!listed.has(entry.serial)) add(entry.host, entry.serial, entry.notAfter);
      return [...listed.values()].sort(
        (a, b) => a.host.localeCompare(b.host) || a.notAfter.getTime() - b.notAfter.getTime(),
      );
    });
  }

  /**
   * Whether `host` needs a new certificate at this Pki's clock: it has no
   * unrevoked one in issued.json, or the newest expires within
   * HOST_CERT_RENEW_BEFORE_DAYS.
   */
  async hostCertDue(host: string): Promise<boolean> {
    const newest = (await this.certificates())
      .filter((cert) => cert.host === host && cert.revokedAt === undefined && !this.isRevoked(cert.serial))
      .reduce<Date | undefined>(
        (latest, cert) => (latest === undefined || cert.notAfter > latest ? cert.notAfter : latest),
        undefined,
      );
    return (
      newest === undefined || newest.getTime() - this.now().getTime() <= HOST_CERT_RENEW_BEFORE_DAYS * DAY_MS
    );
  }

  /**
   * Whether a serial (any hex spelling, e.g. Node's uppercase `serialNumber`)
   * is revoked. Synchronous, from memory: sees this Pki's revocations, those
   * on disk when it was opened, and those `reloadRevoked` picked up since.
   */
  isRevoked(serialHex: string): boolean {
    const wanted = normalizeSerial(serialHex);
    return this.revoked.revoked.some((entry) => entry.serial === wanted);
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #loadCa(): Promise<LoadedCa> {
    this.#ca ??= await loadOrCreateCa(this.files, this.now());
    return this.#ca;
  }

  async #readIssued(): Promise<IssuedFile> {
    const text = await this.files.read(REGISTRY_FILES.issued);
    return text === undefined
      ? emptyIssued()
      : parseRegistry(issuedFileSchema, text, this.files.path(REGISTRY_FILES.issued));
  }

  async #readRevoked(): Promise<RevokedFile> {
    const text = await this.files.read(REGISTRY_FILES.revoked);
    return text === undefined
      ? emptyRevoked()
      : parseRegistry(revokedFileSchema, text, this.files.path(REGISTRY_FILES.revoked));
  }

  async #writeJson(name: string, value: IssuedFile | RevokedFile): Promise<void> {
    await this.files.write(name, `${JSON.stringify(value, null, 2)}\n`);
  }
}
