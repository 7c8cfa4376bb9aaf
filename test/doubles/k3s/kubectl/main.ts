import { NODES } from "../resources.js";
import { parseKubectlArgs, type KubectlArgs } from "./args.js";
import { apiClient, KubectlError } from "./client.js";
import { deleteFile } from "./delete-file.js";
import { parseGoDuration } from "./durations.js";
import { conditionStatus, deleteNode, getNode, listNodes, matchesSelector, type Node } from "./nodes.js";
import { deleteObjects, getObjects } from "./objects.js";
import { patch } from "./patch.js";
import { formatNodes } from "./print.js";
import { parseTargets } from "./targets.js";

/**
 * `k3s kubectl` (or the `kubectl` link):
 *   get TYPE [NAME...]   nodes (-o json|yaml|name|wide, -l, --no-headers) and every
 *                        resource of resources.ts (objects.ts; -n, -A), `get --raw PATH`
 *   delete TYPE NAME...  (--ignore-not-found); delete -f FILE (delete-file.ts)
 *   patch node NAME -p   (patch.ts)
 *   wait --for=condition=C[=value] node/NAME... | nodes --all (--timeout, default 30s)
 * Output and error messages are kubectl's; anything else is "not
 * implemented by the test double". Resolves with the exit status.
 */
export async function kubectl(argv: readonly string[]): Promise<number> {
  try {
    const args = parseKubectlArgs(argv);
    switch (args.verb) {
      case "get":
        return await get(args);
      case "delete":
        return await remove(args);
      case "wait":
        return await wait(args);
      case "patch":
        return await patch(await apiClient(args.kubeconfig), args);
      case undefined:
        process.stdout.write(
          "kubectl controls the Kubernetes cluster manager (test double: get, delete, patch, wait).\n",
        );
        return 0;
      default:
        throw new KubectlError(`error: kubectl ${args.verb} is not implemented by the test double`);
    }
  } catch (error) {
    if (!(error instanceof KubectlError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
}

async function get(args: KubectlArgs): Promise<number> {
  const client = await apiClient(args.kubeconfig);
  if (args.raw !== undefined) {
    process.stdout.write(await client.raw(args.raw));
    return 0;
  }
  const targets = parseTargets(args.positional);
  if (targets.type !== NODES) return getObjects(client, args, targets);
  const names = targets.names;
  const nodes =
    names.length === 0
      ? await listNodes(client)
      : await Promise.all(names.map((name) => getNode(client, name)));
  const selected = nodes.filter((node) => matchesSelector(node, args.selector));
  if (selected.length === 0 && names.length === 0 && (args.output === undefined || args.output === "wide")) {
    process.stderr.write("No resources found\n");
    return 0;
  }
  process.stdout.write(formatNodes(selected, args.output, names.length === 1, args.noHeaders, new Date()));
  return 0;
}

async function remove(args: KubectlArgs): Promise<number> {
  const client = await apiClient(args.kubeconfig);
  if (args.filename !== undefined) {
    if (args.timeout !== undefined && parseGoDuration(args.timeout) === undefined)
      throw new KubectlError(`error: invalid argument "${args.timeout}" for "--timeout" flag`);
    return deleteFile(client, args, args.filename);
  }
  const targets = parseTargets(args.positional);
  if (targets.type !== NODES) return deleteObjects(client, args, targets);
  const names = targets.names;
  if (names.length === 0)
    throw new KubectlError("error: resource(s) were provided, but no name was specified");
  for (const name of names) {
    try {
      await deleteNode(client, name);
      process.stdout.write(`node "${name}" deleted\n`);
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

async function wait(args: KubectlArgs): Promise<number> {
  const condition = /^condition=([^=]+)(?:=(.+))?$/.exec(args.waitFor ?? "");
  if (condition === null) {
    throw new KubectlError(
      `error: --for=${args.waitFor ?? ""} is not implemented by the test double (only condition=...)`,
    );
  }
  const type = condition[1] ?? "";
  const wanted = (condition[2] ?? "True").toLowerCase();
  const timeoutMs = parseGoDuration(args.timeout ?? "30s");
  if (timeoutMs === undefined)
    throw new KubectlError(`error: invalid argument "${args.timeout ?? ""}" for "--timeout" flag`);
  const deadline = Date.now() + (timeoutMs < 0 ? 7 * 86_400_000 : timeoutMs);
  const client = await apiClient(args.kubeconfig);
  const targets = parseTargets(args.positional);
  if (targets.type !== NODES)
    throw new KubectlError(
      `error: kubectl wait for ${targets.type.plural} is not implemented by the test double (nodes only)`,
    );
  const named = targets.names;
  if (named.length === 0 && !args.all)
    throw new KubectlError("error: resource(s) were provided, but no name was specified");
  const names = named.length > 0 ? named : (await listNodes(client)).map((node) => node.metadata.name);
  for (const name of names) {
    for (;;) {
      const node: Node = await getNode(client, name);
      if (conditionStatus(node, type)?.toLowerCase() === wanted) break;
      if (Date.now() >= deadline)
        throw new KubectlError(`error: timed out waiting for the condition on nodes/${name}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Math.max(0, deadline - Date.now()))));
    }
    process.stdout.write(`node/${name} condition met\n`);
  }
  return 0;
}
