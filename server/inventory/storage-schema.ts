import { z } from "zod";
import { addressProblem } from "./checks.js";

/** k3s's own StorageClass (its packaged local-storage manifest): the NFS class may not take its name. */
export const K3S_DEFAULT_CLASS = "local-path";

export const NFS_DEFAULTS = {
  storageClass: "nfs-rwx",
  reclaimPolicy: "Delete",
  archiveOnDelete: true,
} as const;

/** A StorageClass name: a lowercase DNS subdomain (RFC 1123), as Kubernetes validates object names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** One mount option: no blank or comma (mount joins options with commas), no control character. */
const MOUNT_OPTION = /^[^\s,\p{Cc}]+$/u;
/** An absolute path without blanks, control characters, or "." / ".." components. */
const EXPORT_PATH = /^(\/[^\s/\p{Cc}]+)+\/?$|^\/$/u;

const text = (what: string) =>
  z.string({ invalid_type_error: `must be ${what}`, required_error: `is required: ${what}` }).trim();

/**
 * `storage.nfs` of a YAML inventory, validated value by value. Unknown keys
 * are refused by the reader before this runs (with a did-you-mean at their
 * line); each issue's path names the key whose line a message goes to.
 * Messages follow the key and never quote a value (the reader adds it).
 */
export const nfsStorageSchema = z
  .object({
    server: text("the NFS server's IP address or DNS name").refine(
      (value) => value !== "" && addressProblem(value) === undefined,
      "must be an IP address or a DNS name",
    ),
    path: text('the export\'s absolute path, like "/exports/k8s"').refine(
      (value) => EXPORT_PATH.test(value) && !value.split("/").some((part) => part === "." || part === ".."),
      'must be an absolute path without blanks, "." or ".." (the export on the server)',
    ),
    storageClass: text("a StorageClass name")
      .refine(
        (value) => value.length <= 253 && DNS_SUBDOMAIN.test(value),
        'must be a lowercase DNS name (letters, digits, "-" and ".")',
      )
      .refine(
        (value) => value !== K3S_DEFAULT_CLASS,
        `must not be ${JSON.stringify(K3S_DEFAULT_CLASS)}: that is k3s's own class`,
      )
      .default(NFS_DEFAULTS.storageClass),
    mountOptions: z
      .array(
        z
          .string({ invalid_type_error: 'must be one mount option, like "nfsvers=4.1"' })
          .max(256, "must be at most 256 characters")
          .regex(MOUNT_OPTION, "must be one mount option, without blanks or commas"),
        { invalid_type_error: 'must be a list of mount options, like ["nfsvers=4.1", "hard"]' },
      )
      .max(32, "must list at most 32 options")
      .default([]),
    reclaimPolicy: z
      .enum(["Delete", "Retain"], {
        errorMap: () => ({ message: 'must be "Delete" or "Retain"' }),
      })
      .default(NFS_DEFAULTS.reclaimPolicy),
    archiveOnDelete: z
      .boolean({ invalid_type_error: "must be true or false" })
      .default(NFS_DEFAULTS.archiveOnDelete),
  })
  .strict();

export type NfsStorageValues = z.output<typeof nfsStorageSchema>;
