import { stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import {
  ARTIFACT_ARCHES,
  ARTIFACT_KINDS,
  type ArtifactArch,
  type ArtifactKind,
} from "../../../shared/artifacts.js";
import { GroundcrewError } from "../../../shared/errors.js";
import { formatBytes } from "../../../shared/format-bytes.js";
import { terminalSafe } from "../../../shared/terminal-safe.js";
import { addArtifact, signBundle } from "../../bundle/edit.js";
import { DEB_COMPONENTS, type DebComponent } from "../../bundle/manifest.js";
import { readBundleHeader, type BundleHeader } from "../../bundle/read-manifest.js";
import { generateSigningKeys, loadPrivateKey, loadPublicKey } from "../../bundle/signature.js";
import type { VerifiedBundle } from "../../bundle/verified-bundle.js";
import { verifyBundle } from "../../bundle/verify-bundle.js";
import type { CliIo } from "../io.js";
import { renderTable } from "../table.js";
import { registerBundleAddChartCommand } from "./bundle-add-chart.js";
import { registerBundleBuildCommand } from "./bundle-build.js";

/** `groundcrew bundle ...`: build, inspect, verify, sign and extend offline bundles. */
export function registerBundleCommands(program: Command, io: CliIo): void {
  const bundle = program
    .command("bundle")
    .description("offline bundles: build from a lock, inspect, verify, sign, add artifacts");

  registerBundleBuildCommand(bundle, io);

  bundle
    .command("inspect")
    .description("print a bundle's manifest (reads no artifact: use `verify` to check them)")
    .argument("<bundle>", "bundle directory or .tar / .tar.zst file")
    .option("--json", "print the manifest as JSON")
    .action(async (location: string, flags: { json?: boolean }) => {
      const header = await readBundleHeader(location);
      if (flags.json === true) {
        const signature = header.signature === undefined ? null : { keyId: header.signature.keyId };
        io.out(`${JSON.stringify({ ...header.manifest, form: header.form, signature }, null, 2)}\n`);
        return;
      }
      io.out(`${describeHeader(header)}\n\n${artifactTable(header.manifest.artifacts)}\n`);
    });

  bundle
    .command("verify")
    .description("check every artifact's size and sha256, and the signature")
    .argument("<bundle>", "bundle directory or .tar / .tar.zst file")
    .option("--key <file...>", "trusted ed25519 public key(s): the bundle must be signed by one of them")
    .action(async (location: string, flags: { key?: string[] }) => {
      const trustedKeys = await Promise.all((flags.key ?? []).map(loadPublicKey));
      const verified = await verifyBundle(location, { trustedKeys });
      io.out(`${verifiedSummary(verified)}\n`);
    });

  bundle
    .command("sign")
    .description("verify the bundle, then sign its manifest (writes manifest.sig)")
    .argument("<bundle>", "bundle directory or .tar / .tar.zst file")
    .requiredOption("--key <file>", "ed25519 private key (from `bundle keygen`)")
    .action(async (location: string, flags: { key: string }) => {
      const key = await loadPrivateKey(flags.key);
      const signature = await signBundle(location, key);
      io.out(`signed ${terminalSafe(location)} with key ${signature.keyId}\n`);
    });

  bundle
    .command("keygen")
    .description("make an ed25519 key pair for signing bundles: PREFIX.key (secret, 0600) and PREFIX.pub")
    .requiredOption("--out <prefix>", "path prefix of the two files")
    .option("--force", "overwrite existing files")
    .action(async (flags: { out: string; force?: boolean }) => {
      const keys = generateSigningKeys();
      const flag = flags.force === true ? "w" : "wx";
      await writeKey(`${flags.out}.key`, keys.privateKeyPem, 0o600, flag);
      await writeKey(`${flags.out}.pub`, keys.publicKeyPem, 0o644, flag);
      io.out(
        `key ${keys.keyId}: private ${terminalSafe(`${flags.out}.key`)} (keep it secret), public ${terminalSafe(`${flags.out}.pub`)}\n`,
      );
    });

  bundle
    .command("add")
    .description(
      "add a file to a bundle as an artifact (the bundle is verified first; a signature is removed)",
    )
    .argument("<bundle>", "bundle directory or .tar / .tar.zst file")
    .argument("<file>", "the file to add (or an OCI image layout folder, added as a tar)")
    .requiredOption("--kind <kind>", `one of ${ARTIFACT_KINDS.join(", ")}`, parseKind)
    .option("--name <name>", "what it is (default: from a .deb file name, else the file name)")
    .option("--version <version>", "its version (default: from a .deb file name)")
    .option("--arch <arch>", `${ARTIFACT_ARCHES.join(", ")} (default: from a .deb file name)`, parseArch)
    .option("--path <path>", "where it goes in the bundle (default: <kind>/<file name>)")
    .option("--component <component>", `for a deb: ${DEB_COMPONENTS.join(", ")}`, parseComponent)
    .option("--format <format>", "for an image archive: docker-archive or oci-archive", parseFormat)
    .option("--replace", "replace an artifact already at that path")
    .action(async (location: string, file: string, flags: AddFlags) => {
      const folder = (await stat(file)).isDirectory();
      const fromDeb = debFileName(path.basename(file));
      const name = flags.name ?? fromDeb?.name ?? path.basename(file);
      const version = flags.version ?? fromDeb?.version;
      const arch = flags.arch ?? fromDeb?.arch;
      if (version === undefined)
        throw new InvalidArgumentError("--version is needed (it cannot be read from the file name)");
      if (arch === undefined)
        throw new InvalidArgumentError("--arch is needed (it cannot be read from the file name)");
      const { entry, droppedSignature } = await addArtifact(
        location,
        {
          file,
          path: flags.path ?? `${flags.kind}/${path.basename(file)}${folder ? ".tar" : ""}`,
          kind: flags.kind,
          name,
          version,
          arch,
          ...(flags.component === undefined ? {} : { component: flags.component }),
          ...(flags.format !== undefined
            ? { format: flags.format }
            : folder && flags.kind === "image-archive"
              ? { format: "oci-archive" as const }
              : {}),
        },
        { replace: flags.replace === true },
      );
      io.out(`added ${terminalSafe(entry.path)} (${formatBytes(entry.size)}, sha256 ${entry.sha256})\n`);
      if (droppedSignature) io.progress("note: the bundle's signature was removed; sign it again");
    });

  registerBundleAddChartCommand(bundle, io);
}

interface AddFlags {
  kind: ArtifactKind;
  name?: string;
  version?: string;
  arch?: ArtifactArch;
  path?: string;
  component?: DebComponent;
  format?: "docker-archive" | "oci-archive";
  replace?: boolean;
}

/** Debian's file naming: NAME_VERSION_ARCH.deb (the version's epoch colon is written %3a). */
export function debFileName(file: string): { name: string; version: string; arch: ArtifactArch } | undefined {
  const match = /^([a-z0-9][a-z0-9+.-]*)_([^_]+)_(amd64|arm64|all)\.deb$/.exec(file);
  if (match === null) return undefined;
  const [, name = "", version = "", arch = "all"] = match;
  return { name, version: decodeURIComponent(version), arch: arch as ArtifactArch };
}

function describeHeader(header: BundleHeader): string {
  const total = header.manifest.artifacts.reduce((sum, artifact) => sum + artifact.size, 0);
  const signature = header.signature === undefined ? "not signed" : `signed by key ${header.signature.keyId}`;
  return [
    `bundle   ${terminalSafe(header.manifest.name)} (${header.form})`,
    `created  ${header.manifest.created}`,
    `arch     ${header.manifest.arch.join(", ")}`,
    `content  ${header.manifest.artifacts.length} artifact(s), ${formatBytes(total)}; ${signature}`,
  ].join("\n");
}

function artifactTable(artifacts: BundleHeader["manifest"]["artifacts"]): string {
  return renderTable(
    ["path", "kind", "name", "version", "arch", "size", "sha256"],
    artifacts.map((artifact) => [
      terminalSafe(artifact.path),
      artifact.component === undefined ? artifact.kind : `${artifact.kind} (${artifact.component})`,
      terminalSafe(artifact.name),
      terminalSafe(artifact.version),
      artifact.arch,
      formatBytes(artifact.size),
      artifact.sha256.slice(0, 16),
    ]),
  );
}

function verifiedSummary(verified: VerifiedBundle): string {
  const signature =
    verified.signature.state === "verified"
      ? `signature verified (key ${verified.signature.keyId})`
      : verified.signature.state === "unchecked"
        ? `signed by key ${verified.signature.keyId}, not checked (pass --key to check it)`
        : "not signed";
  return `${terminalSafe(verified.location)}: ${verified.manifest.artifacts.length} artifact(s), ${formatBytes(verified.totalBytes)}, every size and sha256 matches; ${signature}`;
}

async function writeKey(file: string, pem: string, mode: number, flag: "w" | "wx"): Promise<void> {
  try {
    await writeFile(file, pem, { mode, flag });
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "EEXIST") {
      throw new GroundcrewError("BUNDLE_OUTPUT_EXISTS", `${file} exists; pass --force to overwrite it`, {
        context: { file },
      });
    }
    throw error;
  }
}

function oneOf<T extends string>(values: readonly T[], what: string): (value: string) => T {
  return (value) => {
    const found = values.find((item) => item === value);
    if (found === undefined)
      throw new InvalidArgumentError(`expected ${what}: ${values.join(", ")}; got "${value}"`);
    return found;
  };
}

const parseKind = oneOf(ARTIFACT_KINDS, "an artifact kind");
const parseArch = oneOf(ARTIFACT_ARCHES, "an architecture");
const parseComponent = oneOf(DEB_COMPONENTS, "a deb component");
const parseFormat = oneOf(["docker-archive", "oci-archive"] as const, "an image archive format");
