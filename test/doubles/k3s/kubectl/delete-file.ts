import { readFile } from "node:fs/promises";
import { resourcePath } from "../api-paths.js";
import { messageOf } from "../fatal.js";
import { isNotFound } from "../files.js";
import { typeOf, type KubeObject } from "../kube-object.js";
import { ManifestError, manifestObjects } from "../manifest-objects.js";
import { qualifiedSingular } from "../resources.js";
import type { KubectlArgs } from "./args.js";
import { KubectlError, type ApiClient } from "./client.js";
import { namespaceOf } from "./objects.js";

/**
 * `kubectl delete -f FILE [--ignore-not-found] [--timeout=D] [--wait]`:
 * deletes every object the file names (YAML or JSON, several documents,
 * Lists), namespaced ones in their own namespace or -n's, printing
 * `kind.group "name" deleted` for each. Deletion is immediate (nothing
 * finalizes), so --timeout and --wait only parse. A missing object is
 * `Error from server (NotFound): error when deleting "FILE": ...` (status 1,
 * the others still deleted) unless --ignore-not-found.
 */
export async function deleteFile(client: ApiClient, args: KubectlArgs, file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (isNotFound(error)) throw new KubectlError(`error: the path "${file}" does not exist`);
    throw new KubectlError(`error: ${messageOf(error)}`);
  }
  let objects: KubeObject[];
  try {
    objects = manifestObjects(text);
  } catch (error) {
    if (error instanceof ManifestError)
      throw new KubectlError(`error: error parsing ${file}: ${error.message}`);
    throw error;
  }
  let failed = false;
  for (const object of objects) {
    const type = typeOf(object);
    const name = object.metadata.name;
    if (type === undefined) {
      process.stderr.write(
        `error: resource mapping not found for name: "${name}" namespace: "${object.metadata.namespace ?? ""}" from "${file}": no matches for kind "${object.kind}" in version "${object.apiVersion}"\nensure CRDs are installed first\n`,
      );
      failed = true;
      continue;
    }
    const namespace = object.metadata.namespace ?? namespaceOf(args);
    try {
      await client.request("DELETE", resourcePath({ type, namespace, name }));
      process.stdout.write(`${qualifiedSingular(type)} "${name}" deleted\n`);
    } catch (error) {
      if (!(error instanceof KubectlError)) throw error;
      const notFound = error.message.startsWith("Error from server (NotFound): ");
      if (notFound && args.ignoreNotFound) continue;
      process.stderr.write(
        notFound
          ? `Error from server (NotFound): error when deleting "${file}": ${error.message.slice("Error from server (NotFound): ".length)}\n`
          : `${error.message}\n`,
      );
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
