import { z } from "zod";
import { ARTIFACT_KINDS, HOST_CAS_DIR, sha256HexSchema } from "../../shared/artifacts.js";
import { isGroundcrewError } from "../../shared/errors.js";
import { localFs } from "../host/local-fs.js";
import { CasStore } from "../cas/store.js";

const count = z
  .string()
  .regex(/^\d{1,15}$/, "a whole number of bytes")
  .transform(Number);
const root = z.string().regex(/^\/[^\0]*$/, "an absolute path");

/** Flags of `cas status`, as commander hands them over. */
const statusFlagsSchema = z
  .object({ sha256: sha256HexSchema, size: count.optional(), root: root.optional() })
  .strict();

/** Flags of `cas receive`. */
const receiveFlagsSchema = z
  .object({
    sha256: sha256HexSchema,
    size: count,
    path: z.string().min(1).max(512),
    kind: z.enum(ARTIFACT_KINDS),
    offset: count,
    root: root.optional(),
  })
  .strict();

/** What `cas status` prints (one JSON line). */
export const casStatusOutputSchema = z
  .object({
    /** A verified copy is stored (with `--size`: and has that size). */
    present: z.boolean(),
    /** Bytes received so far towards it; resume `cas receive` at this offset. */
    partialBytes: z.number().int().min(0),
  })
  .strict();
export type CasStatusOutput = z.infer<typeof casStatusOutputSchema>;

/** What `cas receive` prints (one JSON line), on success and on failure. */
export const casReceiveOutputSchema = z.discriminatedUnion("stored", [
  z
    .object({
      stored: z.literal(true),
      sha256: sha256HexSchema,
      bytesWritten: z.number().int().min(0),
      alreadyStored: z.boolean(),
    })
    .strict(),
  z
    .object({
      stored: z.literal(false),
      sha256: z.string(),
      code: z.string(),
      message: z.string(),
      retryable: z.boolean(),
      /** Where a retry must resume (`--offset`). */
      partialBytes: z.number().int().min(0),
    })
    .strict(),
]);
export type CasReceiveOutput = z.infer<typeof casReceiveOutputSchema>;

export interface CasCommandDeps {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

function flagError(deps: CasCommandDeps, error: z.ZodError): number {
  const issue = error.issues[0];
  deps.stderr(
    `groundcrew-agent: --${issue?.path.join(".") ?? "?"} is not valid (CAS_INVALID_REQUEST): ${issue?.message ?? "?"}\n`,
  );
  return 1;
}

/**
 * `groundcrew-agent cas status --sha256 HEX [--size N] [--root DIR]`: prints
 * CasStatusOutput. Reads only. Resolves 0, or 1 for invalid flags.
 */
export async function casStatusCommand(flags: unknown, deps: CasCommandDeps): Promise<number> {
  const parsed = statusFlagsSchema.safeParse(flags);
  if (!parsed.success) return flagError(deps, parsed.error);
  const { sha256, size, root: dir } = parsed.data;
  const store = new CasStore(dir ?? HOST_CAS_DIR);
  const stats = await localFs.stat(store.finalPath(sha256));
  const output: CasStatusOutput = {
    present: stats?.isFile === true && (size === undefined || stats.size === size),
    partialBytes: await store.partialSize(sha256),
  };
  deps.stdout(`${JSON.stringify(output)}\n`);
  return 0;
}

/**
 * `groundcrew-agent cas receive --sha256 HEX --size N --path P --kind K
 * --offset N [--root DIR]`: stores the artifact's bytes from `offset` on,
 * read from `stdin`, verifies and publishes it (see CasStore.writeFrom).
 * Prints CasReceiveOutput; resolves 0 when stored, 1 otherwise (the message
 * also goes to stderr).
 */
export async function casReceiveCommand(
  flags: unknown,
  stdin: AsyncIterable<Uint8Array>,
  deps: CasCommandDeps,
): Promise<number> {
  const parsed = receiveFlagsSchema.safeParse(flags);
  if (!parsed.success) return flagError(deps, parsed.error);
  const { offset, root: dir, ...ref } = parsed.data;
  const store = new CasStore(dir ?? HOST_CAS_DIR);
  try {
    const result = await store.writeFrom(ref, stdin, offset);
    const output: CasReceiveOutput = { stored: true, sha256: ref.sha256, ...result };
    deps.stdout(`${JSON.stringify(output)}\n`);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const output: CasReceiveOutput = {
      stored: false,
      sha256: ref.sha256,
      code: isGroundcrewError(error) ? error.code : "CAS_WRITE_FAILED",
      message,
      retryable: isGroundcrewError(error) && error.retryable,
      partialBytes: await store.partialSize(ref.sha256).catch(() => 0),
    };
    deps.stdout(`${JSON.stringify(output)}\n`);
    deps.stderr(`groundcrew-agent: ${message}\n`);
    return 1;
  }
}
