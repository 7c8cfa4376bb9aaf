import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import { canonicalBytes } from "./manifest.js";

/** What `manifest.sig` holds: an ed25519 signature over the manifest's canonical bytes. */
export const signatureFileSchema = z
  .object({
    algorithm: z.literal("ed25519"),
    /** keyId(public key) of the key that signed: names the key in messages. */
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, "an ed25519 signature is 64 bytes of base64"),
  })
  .strict();
export type SignatureFile = z.infer<typeof signatureFileSchema>;

/** The first 16 hex digits of the sha256 of the public key's DER (SPKI) form. */
export function keyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex").slice(0, 16);
}

/** A new ed25519 key pair as PEM: PKCS#8 private key (secret), SPKI public key. */
export function generateSigningKeys(): { privateKeyPem: string; publicKeyPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    keyId: keyId(publicKey),
  };
}

/** Throws BUNDLE_KEY_INVALID naming the file when it is not an ed25519 public key (a private key is accepted: its public half is used). */
export async function loadPublicKey(file: string): Promise<KeyObject> {
  const pem = await readKeyFile(file);
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== "ed25519") throw new Error(`a ${key.asymmetricKeyType ?? "?"} key`);
    return key;
  } catch (error) {
    throw keyError(file, "an ed25519 public key", error);
  }
}

/** Throws BUNDLE_KEY_INVALID naming the file (never its content) when it is not an ed25519 private key. */
export async function loadPrivateKey(file: string): Promise<KeyObject> {
  const pem = await readKeyFile(file);
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== "ed25519") throw new Error(`a ${key.asymmetricKeyType ?? "?"} key`);
    return key;
  } catch (error) {
    throw keyError(file, "an ed25519 private key", error);
  }
}

export function signManifest(rawManifest: unknown, privateKey: KeyObject): SignatureFile {
  const signature = sign(null, canonicalBytes(rawManifest), privateKey).toString("base64");
  return { algorithm: "ed25519", keyId: keyId(createPublicKey(privateKey)), signature };
}

export function renderSignature(signature: SignatureFile): string {
  return `${JSON.stringify(signature, null, 2)}\n`;
}

/** Parses manifest.sig bytes. Throws BUNDLE_SIGNATURE_INVALID naming the bundle. */
export function parseSignature(bytes: Uint8Array, where: string): SignatureFile {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    raw = undefined;
  }
  const parsed = signatureFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new GroundcrewError("BUNDLE_SIGNATURE_INVALID", `${where}: manifest.sig is malformed`, {
      context: { bundle: where },
    });
  }
  return parsed.data;
}

/**
 * Checks `signature` over the manifest against the trusted keys. Throws
 * BUNDLE_SIGNATURE_INVALID naming the bundle and the signing key id when no
 * trusted key verifies it (wrong key, or a manifest changed after signing).
 */
export function verifyManifestSignature(
  rawManifest: unknown,
  signature: SignatureFile,
  trusted: readonly KeyObject[],
  where: string,
): { keyId: string } {
  const bytes = canonicalBytes(rawManifest);
  const sig = Buffer.from(signature.signature, "base64");
  for (const key of trusted) {
    if (verify(null, bytes, key, sig)) return { keyId: keyId(key) };
  }
  const known = trusted.map(keyId).join(", ");
  const why = trusted.some((key) => keyId(key) === signature.keyId)
    ? "the manifest was changed after it was signed"
    : `it was signed by key ${signature.keyId}, which is not trusted (trusted: ${known})`;
  throw new GroundcrewError("BUNDLE_SIGNATURE_INVALID", `${where}: the signature does not verify: ${why}`, {
    context: { bundle: where, keyId: signature.keyId },
  });
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    throw new GroundcrewError("BUNDLE_KEY_INVALID", `${file}: cannot read the key file`, {
      context: { file },
      cause: error,
    });
  }
}

function keyError(file: string, wanted: string, cause: unknown): GroundcrewError {
  return new GroundcrewError("BUNDLE_KEY_INVALID", `${file}: not ${wanted}`, { context: { file }, cause });
}
