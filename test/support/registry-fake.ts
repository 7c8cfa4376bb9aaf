import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";

/**
 * An in-memory registry with distribution's quirks, for unit tests of the
 * client: upload Locations are relative and carry `?_state=` (with "+", "/"
 * and "=" percent-encoded, as distribution does), the completing PUT must
 * keep it and add `digest`, a manifest PUT checks that referenced blobs and
 * children exist (MANIFEST_BLOB_UNKNOWN), manifest HEAD needs an Accept
 * listing the stored media type. Every request is logged.
 */
export interface LoggedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  /** Bytes of body received (also for aborted requests). */
  readonly received: number;
}

export interface FakeRegistry {
  readonly url: string;
  readonly log: LoggedRequest[];
  /** repository -> tag -> manifest digest */
  readonly tags: Map<string, Map<string, string>>;
  /** Answers a request before the fake does when it returns a status. */
  intercept:
    | ((
        req: IncomingMessage,
      ) => { status: number; headers?: Record<string, string>; body?: string } | undefined)
    | undefined;
  /** Makes the upload Location absolute with this origin. */
  locationOrigin: string | undefined;
  stop(): Promise<void>;
}

const ref = z.object({ digest: z.string() });
const manifestRefsSchema = z.object({
  config: ref.optional(),
  layers: z.array(ref).optional(),
  manifests: z.array(ref).optional(),
});

const STATE = "abc%2Bdef%2F%3D%3D";

function error(res: ServerResponse, status: number, code: string): void {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ errors: [{ code, message: `${code.toLowerCase()} (fake)` }] }));
}

export async function startFakeRegistry(): Promise<FakeRegistry> {
  const blobs = new Map<string, Set<string>>(); // repository -> digests
  const manifests = new Map<string, { bytes: Buffer; type: string }>(); // digest -> manifest
  const repoManifests = new Map<string, Set<string>>();
  const tags = new Map<string, Map<string, string>>();
  const log: LoggedRequest[] = [];
  const has = (map: Map<string, Set<string>>, repo: string, digest: string): boolean =>
    map.get(repo)?.has(digest) ?? false;
  const add = (map: Map<string, Set<string>>, repo: string, digest: string): void => {
    map.set(repo, (map.get(repo) ?? new Set()).add(digest));
  };
  let uploads = 0;

  const handle = (req: IncomingMessage, body: Buffer, res: ServerResponse, fake: FakeRegistry): void => {
    const url = new URL(req.url ?? "/", "http://fake");
    const intercepted = fake.intercept?.(req);
    if (intercepted !== undefined) {
      res.writeHead(intercepted.status, intercepted.headers ?? {});
      res.end(intercepted.body ?? "");
      return;
    }
    if (url.pathname === "/v2/") {
      res.writeHead(200, { "Docker-Distribution-API-Version": "registry/2.0" });
      res.end("{}");
      return;
    }
    const match = /^\/v2\/(.+)\/(blobs|manifests)\/(uploads\/?([^/]*)|[^/]+)$/.exec(url.pathname);
    if (match === null) {
      error(res, 404, "NAME_UNKNOWN");
      return;
    }
    const [, repo = "", kind, reference = "", session] = match;
    if (kind === "blobs" && session === undefined) {
      if (req.method === "HEAD") {
        res.writeHead(has(blobs, repo, reference) ? 200 : 404);
        return void res.end();
      }
      error(res, 405, "UNSUPPORTED");
      return;
    }
    if (kind === "blobs" && req.method === "POST") {
      const from = url.searchParams.get("from");
      const mount = url.searchParams.get("mount");
      if (from !== null && mount !== null && has(blobs, from, mount)) {
        add(blobs, repo, mount);
        res.writeHead(201, { "Docker-Content-Digest": mount });
        return void res.end();
      }
      const path = `/v2/${repo}/blobs/uploads/u${++uploads}?_state=${STATE}`;
      res.writeHead(202, { Location: `${fake.locationOrigin ?? ""}${path}` });
      return void res.end();
    }
    if (kind === "blobs" && req.method === "DELETE") {
      res.writeHead(204);
      return void res.end();
    }
    if (kind === "blobs" && req.method === "PUT") {
      const digest = url.searchParams.get("digest");
      if (!(req.url ?? "").includes(`?_state=${STATE}&digest=`) || digest === null) {
        error(res, 400, "DIGEST_INVALID");
        return;
      }
      if (`sha256:${createHash("sha256").update(body).digest("hex")}` !== digest) {
        error(res, 400, "DIGEST_INVALID");
        return;
      }
      add(blobs, repo, digest);
      res.writeHead(201, { "Docker-Content-Digest": digest, Location: `/v2/${repo}/blobs/${digest}` });
      return void res.end();
    }
    if (kind === "manifests" && req.method === "PUT") {
      const document = manifestRefsSchema.parse(JSON.parse(body.toString()));
      const needed = [document.config, ...(document.layers ?? [])]
        .filter((d) => d !== undefined)
        .map((d) => d.digest);
      const children = (document.manifests ?? []).map((d) => d.digest);
      if (needed.some((d) => !has(blobs, repo, d)) || children.some((d) => !has(repoManifests, repo, d))) {
        error(res, 400, "MANIFEST_BLOB_UNKNOWN");
        return;
      }
      const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      manifests.set(digest, { bytes: body, type: req.headers["content-type"] ?? "" });
      add(repoManifests, repo, digest);
      if (!reference.startsWith("sha256:"))
        tags.set(repo, (tags.get(repo) ?? new Map<string, string>()).set(reference, digest));
      res.writeHead(201, { "Docker-Content-Digest": digest });
      return void res.end();
    }
    if (kind === "manifests" && req.method === "HEAD") {
      const digest = reference.startsWith("sha256:") ? reference : tags.get(repo)?.get(reference);
      const stored =
        digest === undefined || !has(repoManifests, repo, digest) ? undefined : manifests.get(digest);
      if (stored === undefined || !(req.headers.accept ?? "").includes(stored.type)) {
        error(res, 404, "MANIFEST_UNKNOWN");
        return;
      }
      res.writeHead(200, { "Docker-Content-Digest": digest ?? "", "Content-Type": stored.type });
      return void res.end();
    }
    error(res, 405, "UNSUPPORTED");
  };

  const holder: { fake?: FakeRegistry } = {};
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    const entry = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, received: 0 };
    log.push(entry);
    req.on("close", () => {
      entry.received = received;
    });
    req.on("end", () => {
      entry.received = received;
      if (holder.fake !== undefined) handle(req, Buffer.concat(chunks), res, holder.fake);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeRegistry = {
    url: `http://127.0.0.1:${port}`,
    log,
    tags,
    intercept: undefined,
    locationOrigin: undefined,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
  holder.fake = fake;
  return fake;
}
