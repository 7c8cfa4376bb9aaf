import { gunzipSync } from "node:zlib";
import { parse } from "yaml";
import { z } from "zod";
import { tarFiles, TarError } from "./tar-entries.js";

/** Where klipper-helm resolves `%{KUBERNETES_API}%`: the kubernetes service. */
export const KUBERNETES_API = "10.43.0.1:443";
const STATIC_PREFIX = "https://%{KUBERNETES_API}%/static/";

const helmChartSpecSchema = z
  .object({
    chart: z.string().optional(),
    chartContent: z.string().optional(),
    repo: z.string().optional(),
    version: z.string().optional(),
  })
  .passthrough();

/** Whether the helm job can install a HelmChart: the chart's name and version, or helm's error. */
export type ChartCheck =
  | { readonly ok: true; readonly name: string; readonly version: string }
  | { readonly ok: false; readonly message: string };

/**
 * Whether helm, run offline by k3s's helm-install job, could get the chart
 * of a HelmChart `spec`: `chartContent` (base64 of a .tgz, which wins over
 * `chart`), or `chart` naming a file the apiserver serves from
 * `<data-dir>/server/static/` (`https://%{KUBERNETES_API}%/static/...`),
 * read through `readStatic` (path under static/; undefined when missing).
 * The archive must be a gzipped tar with `<dir>/Chart.yaml` giving
 * apiVersion, name and version. Anything else needs a network: refused
 * with helm's wording. Templates are never rendered. Pure.
 */
export function checkHelmChart(
  spec: unknown,
  readStatic: (relative: string) => Buffer | undefined,
): ChartCheck {
  const parsed = helmChartSpecSchema.safeParse(spec ?? {});
  if (!parsed.success)
    return { ok: false, message: `Error: invalid HelmChart spec: ${parsed.error.issues[0]?.message ?? ""}` };
  const { chart = "", chartContent = "", repo = "" } = parsed.data;
  if (chartContent !== "") {
    if (!/^[A-Za-z0-9+/=\s]+$/.test(chartContent))
      return { ok: false, message: "Error: INSTALLATION FAILED: illegal base64 data in chartContent" };
    return inspectChart(Buffer.from(chartContent, "base64"), "chart.tgz");
  }
  if (chart.startsWith(STATIC_PREFIX)) {
    const relative = chart.slice(STATIC_PREFIX.length);
    const url = `https://${KUBERNETES_API}/static/${relative}`;
    const bytes = relative.split("/").includes("..") ? undefined : readStatic(relative);
    if (bytes === undefined)
      return { ok: false, message: `Error: INSTALLATION FAILED: failed to fetch ${url} : 404 Not Found` };
    return inspectChart(bytes, relative.split("/").at(-1) ?? relative);
  }
  if (chart === "")
    return { ok: false, message: "Error: INSTALLATION FAILED: a chart or chartContent is required" };
  if (repo !== "")
    return {
      ok: false,
      message: `Error: INSTALLATION FAILED: looks like "${repo}" is not a valid chart repository or cannot be reached: failed to download "${chart}" (the cluster is offline)`,
    };
  return {
    ok: false,
    message: `Error: INSTALLATION FAILED: failed to download "${chart}": chart not found (the cluster is offline)`,
  };
}

/** What helm says of a .tgz: it must gunzip, untar, and hold `<dir>/Chart.yaml` with apiVersion, name and version. */
function inspectChart(bytes: Buffer, fileName: string): ChartCheck {
  let files;
  try {
    files = tarFiles(gunzipSync(bytes));
  } catch (error) {
    if (error instanceof TarError)
      return { ok: false, message: `Error: INSTALLATION FAILED: ${error.message}` };
    return {
      ok: false,
      message: `Error: INSTALLATION FAILED: file '${fileName}' does not appear to be a gzipped archive; got 'application/octet-stream'`,
    };
  }
  const chartYaml = files.find((file) => /^[^/]+\/Chart\.yaml$/.test(file.name));
  if (chartYaml === undefined)
    return { ok: false, message: "Error: INSTALLATION FAILED: Chart.yaml file is missing" };
  let metadata: unknown;
  try {
    metadata = parse(chartYaml.body.toString("utf8"));
  } catch (error) {
    return {
      ok: false,
      message: `Error: INSTALLATION FAILED: cannot load Chart.yaml: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const fields = z
    .object({ apiVersion: z.unknown(), name: z.unknown(), version: z.unknown() })
    .partial()
    .safeParse(metadata);
  const field = (key: "apiVersion" | "name" | "version"): string => {
    const value = fields.success ? fields.data[key] : undefined;
    return typeof value === "string" || typeof value === "number" ? String(value) : "";
  };
  for (const key of ["apiVersion", "name", "version"] as const) {
    if (field(key) === "")
      return {
        ok: false,
        message: `Error: INSTALLATION FAILED: validation: chart.metadata.${key} is required`,
      };
  }
  return { ok: true, name: field("name"), version: field("version") };
}
