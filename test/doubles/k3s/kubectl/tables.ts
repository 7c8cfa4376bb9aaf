import { recordAt, specOf, type KubeObject } from "../kube-object.js";
import type { ResourceType } from "../resources.js";
import { humanDuration } from "./durations.js";

interface Column {
  readonly header: string;
  value(object: KubeObject, now: Date): string;
}

const status = (object: KubeObject): Readonly<Record<string, unknown>> => recordAt(object["status"]) ?? {};
const field = (record: Readonly<Record<string, unknown>>, key: string, fallback = "<none>"): string => {
  const value = record[key];
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
    ? String(value)
    : fallback;
};
const count = (object: KubeObject, key: string): string => field(status(object), key, "0");
const conditionTrue = (object: KubeObject, type: string): boolean =>
  (Array.isArray(status(object)["conditions"]) ? (status(object)["conditions"] as unknown[]) : []).some(
    (item) => recordAt(item)?.["type"] === type && recordAt(item)?.["status"] === "True",
  );

const NAME: Column = { header: "NAME", value: (object) => object.metadata.name };
const AGE: Column = {
  header: "AGE",
  value: (object, now) => {
    const created = object.metadata["creationTimestamp"];
    return typeof created === "string" ? humanDuration(now.getTime() - Date.parse(created)) : "<unknown>";
  },
};

/** kubectl's columns for the kinds whose tables it prints specially; others get NAME and AGE. */
const COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  StorageClass: [
    {
      header: "NAME",
      value: (object) =>
        object.metadata.annotations?.["storageclass.kubernetes.io/is-default-class"] === "true"
          ? `${object.metadata.name} (default)`
          : object.metadata.name,
    },
    { header: "PROVISIONER", value: (object) => field(object, "provisioner") },
    { header: "RECLAIMPOLICY", value: (object) => field(object, "reclaimPolicy", "Delete") },
    { header: "VOLUMEBINDINGMODE", value: (object) => field(object, "volumeBindingMode", "Immediate") },
    { header: "ALLOWVOLUMEEXPANSION", value: (object) => field(object, "allowVolumeExpansion", "false") },
    AGE,
  ],
  RuntimeClass: [NAME, { header: "HANDLER", value: (object) => field(object, "handler") }, AGE],
  Job: [
    NAME,
    {
      header: "STATUS",
      value: (object) =>
        conditionTrue(object, "Complete")
          ? "Complete"
          : conditionTrue(object, "Failed")
            ? "Failed"
            : "Running",
    },
    {
      header: "COMPLETIONS",
      value: (object) => `${count(object, "succeeded")}/${field(specOf(object), "completions", "1")}`,
    },
    AGE,
  ],
  DaemonSet: [
    NAME,
    { header: "DESIRED", value: (object) => count(object, "desiredNumberScheduled") },
    { header: "CURRENT", value: (object) => count(object, "currentNumberScheduled") },
    { header: "READY", value: (object) => count(object, "numberReady") },
    { header: "UP-TO-DATE", value: (object) => count(object, "updatedNumberScheduled") },
    { header: "AVAILABLE", value: (object) => count(object, "numberAvailable") },
    {
      header: "NODE SELECTOR",
      value: (object) => {
        const selector =
          recordAt(recordAt(recordAt(specOf(object)["template"])?.["spec"])?.["nodeSelector"]) ?? {};
        const pairs = Object.entries(selector).map(([key, value]) => `${key}=${String(value)}`);
        return pairs.length === 0 ? "<none>" : pairs.join(",");
      },
    },
    AGE,
  ],
  Deployment: [
    NAME,
    {
      header: "READY",
      value: (object) => `${count(object, "readyReplicas")}/${field(specOf(object), "replicas", "1")}`,
    },
    { header: "UP-TO-DATE", value: (object) => count(object, "updatedReplicas") },
    { header: "AVAILABLE", value: (object) => count(object, "availableReplicas") },
    AGE,
  ],
  HelmChart: [
    NAME,
    { header: "JOB", value: (object) => field(status(object), "jobName", "") },
    { header: "CHART", value: (object) => field(specOf(object), "chart", "") },
    { header: "TARGETNAMESPACE", value: (object) => field(specOf(object), "targetNamespace", "") },
    { header: "VERSION", value: (object) => field(specOf(object), "version", "") },
    { header: "REPO", value: (object) => field(specOf(object), "repo", "") },
    { header: "HELMVERSION", value: (object) => field(specOf(object), "helmVersion", "") },
    { header: "BOOTSTRAP", value: (object) => field(specOf(object), "bootstrap", "") },
    AGE,
  ],
  Addon: [
    NAME,
    { header: "SOURCE", value: (object) => field(specOf(object), "source", "") },
    { header: "CHECKSUM", value: (object) => field(specOf(object), "checksum", "") },
    AGE,
  ],
};

/** Objects as kubectl's table: the kind's columns, NAMESPACE first across namespaces. */
export function formatTable(
  type: ResourceType,
  objects: readonly KubeObject[],
  options: { readonly allNamespaces: boolean; readonly noHeaders: boolean; readonly now: Date },
): string {
  const columns = [
    ...(options.allNamespaces && type.namespaced
      ? [{ header: "NAMESPACE", value: (object: KubeObject) => object.metadata.namespace ?? "" }]
      : []),
    ...(COLUMNS[type.kind] ?? [NAME, AGE]),
  ];
  const rows = objects.map((object) => columns.map((column) => column.value(object, options.now)));
  return renderTable(options.noHeaders ? rows : [columns.map((column) => column.header), ...rows]);
}

/** Rows as kubectl aligns them: each column padded to its widest cell plus three spaces, the last unpadded. */
export function renderTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd((widths[column] ?? 0) + 3)))
        .join(""),
    )
    .map((line) => `${line}\n`)
    .join("");
}
