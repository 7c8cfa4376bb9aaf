import { z } from "zod";
import type { Exec } from "../../../shared/host-io.js";
import { kubectlJson } from "../kubectl.js";
import type { StorageClassRow } from "./types.js";

const DEFAULT_CLASS_ANNOTATIONS = [
  "storageclass.kubernetes.io/is-default-class",
  "storageclass.beta.kubernetes.io/is-default-class",
];

const storageClassListSchema = z.object({
  items: z.array(
    z.object({
      metadata: z.object({
        name: z.string(),
        annotations: z.record(z.string(), z.string()).default({}),
      }),
      provisioner: z.string(),
    }),
  ),
});

/** The cluster's storage classes, default first; a string when the API did not answer. */
export async function storageClasses(server: Exec): Promise<StorageClassRow[] | string> {
  const answer = await kubectlJson(server, ["get", "storageclasses.storage.k8s.io"], storageClassListSchema);
  if (answer.kind !== "ok") return answer.kind === "failed" ? answer.problem : "no storage classes";
  return answer.value.items
    .map((item) => ({
      name: item.metadata.name,
      provisioner: item.provisioner,
      isDefault: DEFAULT_CLASS_ANNOTATIONS.some((key) => item.metadata.annotations[key] === "true"),
    }))
    .sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.name.localeCompare(b.name));
}

/** What is wrong with the storage classes: no default one, an expected one missing. */
export function storageProblems(rows: readonly StorageClassRow[], expected: readonly string[]): string[] {
  const problems: string[] = [];
  if (!rows.some((row) => row.isDefault))
    problems.push("storage: no default storage class (k3s's local-path should be)");
  const names = new Set(rows.map((row) => row.name));
  for (const name of expected)
    if (!names.has(name)) problems.push(`storage: the storage class ${name} does not exist`);
  return problems;
}
