import { z } from "zod";
import { stringify } from "yaml";
import { resourcePath } from "../api-paths.js";
import { kubeObjectSchema, type KubeObject } from "../kube-object.js";
import { qualifiedSingular, type ResourceType } from "../resources.js";
import type { KubectlArgs } from "./args.js";
import { KubectlError, type ApiClient } from "./client.js";
import { labelsMatch } from "./nodes.js";
import { formatTable } from "./tables.js";
import type { Targets } from "./targets.js";

const listSchema = z.object({ items: z.array(kubeObjectSchema) }).passthrough();

/** The namespace a command works in: -n, else `default`. */
export function namespaceOf(args: KubectlArgs): string {
  return args.namespace ?? "default";
}

/**
 * `kubectl get TYPE [NAME...]` for every resource but nodes: without names a
 * List of the namespace's objects (every namespace with -A; -l filters),
 * with one name the object, with several a List; -o json|yaml|name or the
 * kind's table. Missing names are reported as the API says (NotFound) after
 * printing the others, and make the status 1.
 */
export async function getObjects(client: ApiClient, args: KubectlArgs, targets: Targets): Promise<number> {
  const { type, names } = targets;
  const namespace = args.allNamespaces ? undefined : namespaceOf(args);
  const found: KubeObject[] = [];
  const errors: string[] = [];
  if (names.length === 0) {
    const parsed = listSchema.safeParse(
      await client.request("GET", resourcePath({ type, ...(namespace === undefined ? {} : { namespace }) })),
    );
    if (!parsed.success) throw new KubectlError(`error: the server returned an invalid ${type.kind}List`);
    found.push(...parsed.data.items.filter((item) => labelsMatch(item.metadata.labels ?? {}, args.selector)));
  } else {
    for (const name of names) {
      try {
        found.push(
          kubeObjectSchema.parse(
            await client.request("GET", resourcePath({ type, namespace: namespaceOf(args), name })),
          ),
        );
      } catch (error) {
        if (!(error instanceof KubectlError)) throw error;
        errors.push(error.message);
      }
    }
  }
  const table = args.output === undefined || args.output === "wide";
  if (names.length === 0 && found.length === 0 && table) {
    process.stderr.write(
      type.namespaced && namespace !== undefined
        ? `No resources found in ${namespace} namespace.\n`
        : "No resources found\n",
    );
  } else if (names.length === 0 || found.length > 0) {
    process.stdout.write(format(type, found, args, names.length === 1));
  }
  for (const error of errors) process.stderr.write(`${error}\n`);
  return errors.length > 0 ? 1 : 0;
}

/** `kubectl delete TYPE NAME...`: `kind.group "name" deleted` each; --ignore-not-found skips missing ones. */
export async function deleteObjects(client: ApiClient, args: KubectlArgs, targets: Targets): Promise<number> {
  if (targets.names.length === 0)
    throw new KubectlError("error: resource(s) were provided, but no name was specified");
  for (const name of targets.names) {
    try {
      await client.request(
        "DELETE",
        resourcePath({ type: targets.type, namespace: namespaceOf(args), name }),
      );
      process.stdout.write(`${qualifiedSingular(targets.type)} "${name}" deleted\n`);
    } catch (error) {
      if (
        args.ignoreNotFound &&
        error instanceof KubectlError &&
        error.message.startsWith("Error from server (NotFound)")
      )
        continue;
      throw error;
    }
  }
  return 0;
}

function format(
  type: ResourceType,
  objects: readonly KubeObject[],
  args: KubectlArgs,
  single: boolean,
): string {
  const document =
    single && objects.length === 1
      ? objects[0]
      : { apiVersion: "v1", items: objects, kind: "List", metadata: { resourceVersion: "" } };
  switch (args.output) {
    case "json":
      return `${JSON.stringify(document, null, 4)}\n`;
    case "yaml":
      return stringify(document, { lineWidth: 0 });
    case "name":
      return objects.map((object) => `${qualifiedSingular(type)}/${object.metadata.name}\n`).join("");
    case undefined:
    case "wide":
      return formatTable(type, objects, {
        allNamespaces: args.allNamespaces,
        noHeaders: args.noHeaders,
        now: new Date(),
      });
    default:
      throw new KubectlError(`error: output format "${args.output}" is not implemented by the test double`);
  }
}
