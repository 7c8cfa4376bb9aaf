import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import { parse } from "yaml";
import { z } from "zod";
import { GroundcrewError } from "../../shared/errors.js";
import { scanTar } from "./tar-scan.js";

/** Chart.yaml is small; a larger one is refused. */
const MAX_CHART_YAML_BYTES = 256 * 1024;

const chartYamlSchema = z.object({
  apiVersion: z.string().optional(),
  name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$/, "a lowercase chart name"),
  version: z.string().min(1).max(200),
});

export interface ChartMeta {
  readonly name: string;
  readonly version: string;
}

/**
 * The name and version of a packaged Helm chart (`helm package` output: a
 * gzipped tar with `<chart>/Chart.yaml` at the top). Throws GroundcrewError
 * BUNDLE_INVALID naming the file when it is not one.
 */
export async function readChartMeta(file: string): Promise<ChartMeta> {
  const invalid = (why: string, cause?: unknown): GroundcrewError =>
    new GroundcrewError("BUNDLE_INVALID", `${file} is not a packaged Helm chart: ${why}`, {
      context: { file },
      ...(cause === undefined ? {} : { cause }),
    });
  let text: string | undefined;
  try {
    await scanTar(createReadStream(file).pipe(createGunzip()), file, async (path, size, content) => {
      if (!/^[^/]+\/Chart\.yaml$/.test(path) || size > MAX_CHART_YAML_BYTES) {
        content.resume();
        return undefined;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(Buffer.from(chunk as Uint8Array));
      text = Buffer.concat(chunks).toString("utf8");
      return "stop";
    });
  } catch (error) {
    throw invalid("it cannot be read as a .tgz", error);
  }
  if (text === undefined) throw invalid("it has no <chart>/Chart.yaml");
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    throw invalid("its Chart.yaml is not YAML", error);
  }
  const parsed = chartYamlSchema.safeParse(raw);
  if (!parsed.success) throw invalid(`its Chart.yaml: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return { name: parsed.data.name, version: parsed.data.version };
}
