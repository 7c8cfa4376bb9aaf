import { parse } from "yaml";
import { resourcePath } from "../api-paths.js";
import { recordAt } from "../kube-object.js";
import { NODES, qualifiedSingular } from "../resources.js";
import type { KubectlArgs } from "./args.js";
import { KubectlError, type ApiClient } from "./client.js";
import { parseTargets } from "./targets.js";

const PATCH_TYPES = ["json", "merge", "strategic"];
const MEDIA_TYPES: Readonly<Record<string, string>> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
};

/**
 * `kubectl patch node NAME... -p PATCH [--type merge|strategic]` (default
 * strategic, which for a Node's labels, annotations and taints is the same
 * as merge; `--type json` is not implemented). PATCH is JSON or YAML, as
 * kubectl takes it. Prints `node/NAME patched`, or `... patched (no change)`
 * when the Node is the same after. A missing node is the API's NotFound;
 * an invalid one (a bad taint effect) kubectl's `The Node "x" is invalid: ...`.
 */
export async function patch(client: ApiClient, args: KubectlArgs): Promise<number> {
  const { type, names } = parseTargets(args.positional);
  if (type !== NODES)
    throw new KubectlError(
      `error: kubectl patch ${type.plural} is not implemented by the test double (nodes only)`,
    );
  if (names.length === 0)
    throw new KubectlError("error: resource(s) were provided, but no name was specified");
  const patchType = args.patchType ?? "strategic";
  if (!PATCH_TYPES.includes(patchType))
    throw new KubectlError(`error: --type must be one of [${PATCH_TYPES.join(" ")}], not "${patchType}"`);
  const mediaType = MEDIA_TYPES[patchType];
  if (mediaType === undefined)
    throw new KubectlError(`error: --type ${patchType} is not implemented by the test double`);
  if (args.patch === undefined || args.patch === "")
    throw new KubectlError("error: must specify -p to patch");
  let document: unknown;
  try {
    document = parse(args.patch);
  } catch (error) {
    throw new KubectlError(
      `error: unable to parse "${args.patch}": yaml: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const body = { text: JSON.stringify(document), contentType: mediaType };
  for (const name of names) {
    const path = resourcePath({ type, name });
    const before = await client.request("GET", path);
    const after = await client.request("PATCH", path, body);
    const changed = editable(before) !== editable(after);
    process.stdout.write(`${qualifiedSingular(type)}/${name} patched${changed ? "" : " (no change)"}\n`);
  }
  return 0;
}

/** What a patch can change of a Node: its labels, annotations and spec, as comparable text. */
function editable(node: unknown): string {
  const metadata = recordAt(recordAt(node)?.["metadata"]);
  return JSON.stringify([metadata?.["labels"], metadata?.["annotations"], recordAt(node)?.["spec"]]);
}
