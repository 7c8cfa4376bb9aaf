import { homedir } from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { z } from "zod";
import { messageOf } from "../fatal.js";
import { readOptional } from "../files.js";
import { ConnectionError, httpsRequest } from "../https-client.js";
import { DEFAULT_KUBECONFIG } from "../kubeconfig.js";

/** A failure kubectl reports: `message` is printed to stderr as is, and kubectl exits 1. */
export class KubectlError extends Error {
  override readonly name = "KubectlError";
}

const NO_SERVER =
  "The connection to the server localhost:8080 was refused - did you specify the right host or port?";

const kubeconfigSchema = z.object({
  "current-context": z.string().optional(),
  clusters: z.array(
    z.object({
      name: z.string(),
      cluster: z.object({
        server: z.string(),
        "certificate-authority-data": z.string().optional(),
        "certificate-authority": z.string().optional(),
        "insecure-skip-tls-verify": z.boolean().optional(),
      }),
    }),
  ),
  contexts: z.array(
    z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string() }) }),
  ),
  users: z.array(
    z.object({ name: z.string(), user: z.object({ token: z.string().optional() }).passthrough() }),
  ),
});

const statusSchema = z.object({
  kind: z.literal("Status"),
  reason: z.string(),
  message: z.string(),
  details: z
    .object({
      kind: z.string().optional(),
      name: z.string().optional(),
      causes: z.array(z.object({ field: z.string().optional(), message: z.string() })).optional(),
    })
    .optional(),
});

/** A request body and its media type. */
export interface RequestBody {
  readonly text: string;
  readonly contentType: string;
}

/** The Kubernetes API as one kubeconfig reaches it. */
export interface ApiClient {
  /** `method apiPath` (with `body`); resolves with the parsed JSON body of a 2xx answer, else rejects with KubectlError. */
  request(method: "GET" | "DELETE" | "PATCH" | "PUT", apiPath: string, body?: RequestBody): Promise<unknown>;
  /** The raw body of a GET (for --raw). */
  raw(apiPath: string): Promise<string>;
}

/**
 * The client for `--kubeconfig`, else $KUBECONFIG, else (as `k3s kubectl`
 * does) /etc/rancher/k3s/k3s.yaml when it exists, else ~/.kube/config;
 * with none of them, kubectl's "localhost:8080 was refused". Only bearer
 * token users are supported (what the double writes).
 */
export async function apiClient(kubeconfigFlag: string | undefined): Promise<ApiClient> {
  const file = await chooseKubeconfig(kubeconfigFlag);
  if (file === undefined) throw new KubectlError(NO_SERVER);
  let text: string | undefined;
  try {
    text = await readOptional(file);
  } catch (error) {
    throw new KubectlError(`error: error loading config file "${file}": ${messageOf(error)}`);
  }
  if (text === undefined) {
    if (kubeconfigFlag !== undefined)
      throw new KubectlError(`error: stat ${file}: no such file or directory`);
    throw new KubectlError(NO_SERVER);
  }
  const parsed = parseKubeconfig(file, text);
  const context =
    parsed.contexts.find((item) => item.name === parsed["current-context"]) ?? parsed.contexts[0];
  const cluster = parsed.clusters.find((item) => item.name === context?.context.cluster);
  const user = parsed.users.find((item) => item.name === context?.context.user);
  if (context === undefined || cluster === undefined || user === undefined) {
    throw new KubectlError(
      `error: invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable`,
    );
  }
  const caData = cluster.cluster["certificate-authority-data"];
  const caFile = cluster.cluster["certificate-authority"];
  const ca =
    caData !== undefined
      ? Buffer.from(caData, "base64").toString("utf8")
      : caFile === undefined
        ? undefined
        : await readOptional(caFile);
  const server = new URL(cluster.cluster.server);
  const token = user.user.token;
  if (token === undefined)
    throw new KubectlError(
      "error: the test double's kubectl supports only bearer-token users (not implemented by the test double)",
    );

  const send = async (
    method: string,
    apiPath: string,
    body?: RequestBody,
  ): Promise<{ status: number; body: string }> => {
    try {
      return await httpsRequest(new URL(apiPath, server), {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": body.contentType }),
        },
        ...(body === undefined ? {} : { body: body.text }),
        timeoutMs: 30_000,
        ...(ca === undefined ? {} : { ca }),
        insecure: cluster.cluster["insecure-skip-tls-verify"] === true,
      });
    } catch (error) {
      if (error instanceof ConnectionError && error.code === "ECONNREFUSED") {
        throw new KubectlError(
          `The connection to the server ${server.host} was refused - did you specify the right host or port?`,
        );
      }
      throw new KubectlError(`Unable to connect to the server: ${messageOf(error)}`);
    }
  };
  const check = (status: number, body: string): void => {
    if (status >= 200 && status < 300) return;
    if (status === 401) throw new KubectlError("error: You must be logged in to the server (Unauthorized)");
    const failure = statusSchema.safeParse(parseJson(body));
    if (failure.success) throw new KubectlError(statusMessage(failure.data));
    throw new KubectlError(`Error from server: ${status} ${body.trim()}`);
  };
  return {
    async request(method, apiPath, body) {
      const answer = await send(method, apiPath, body);
      check(answer.status, answer.body);
      return parseJson(answer.body);
    },
    async raw(apiPath) {
      const answer = await send("GET", apiPath);
      check(answer.status, answer.body);
      return answer.body;
    },
  };
}

/**
 * How kubectl prints an API failure: `The Node "x" is invalid: field: message`
 * (one line per cause after the first, `* `-prefixed, when there are several)
 * for Invalid, else `Error from server (Reason): message`.
 */
function statusMessage(status: z.infer<typeof statusSchema>): string {
  const details = status.details;
  if (status.reason !== "Invalid" || details === undefined)
    return `Error from server (${status.reason}): ${status.message}`;
  const head = `The ${details.kind ?? ""} ${JSON.stringify(details.name ?? "")} is invalid`;
  const causes = (details.causes ?? []).map((cause) =>
    cause.field === undefined || cause.field === "" ? cause.message : `${cause.field}: ${cause.message}`,
  );
  if (causes.length === 0) return head;
  if (causes.length === 1) return `${head}: ${causes[0] ?? ""}`;
  return `${head}: \n${causes.map((cause) => `* ${cause}`).join("\n")}`;
}

function parseKubeconfig(file: string, text: string): z.infer<typeof kubeconfigSchema> {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new KubectlError(`error: error loading config file "${file}": ${messageOf(error)}`);
  }
  const parsed = kubeconfigSchema.safeParse(document);
  if (!parsed.success)
    throw new KubectlError(`error: error loading config file "${file}": ${parsed.error.message}`);
  return parsed.data;
}

async function chooseKubeconfig(flag: string | undefined): Promise<string | undefined> {
  if (flag !== undefined) return flag;
  const fromEnv = process.env["KUBECONFIG"]?.split(":").find((item) => item !== "");
  if (fromEnv !== undefined) return fromEnv;
  try {
    if ((await readOptional(DEFAULT_KUBECONFIG)) !== undefined) return DEFAULT_KUBECONFIG;
  } catch {
    process.stderr.write(
      `time="${new Date().toISOString()}" level=warning msg="Unable to read ${DEFAULT_KUBECONFIG}, please start server with --write-kubeconfig-mode or --write-kubeconfig-group to modify kube config permissions"\n`,
    );
  }
  const home = path.join(homedir(), ".kube", "config");
  return (await readOptional(home).catch(() => undefined)) === undefined ? undefined : home;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
