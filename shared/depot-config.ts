import { z } from "zod";

const absolutePath = z.string().regex(/^\/[^\0]*$/, "an absolute path");

/** A DNS name as our host certificates carry it (`<host>.groundcrew.internal`). */
const dnsName = z
  .string()
  .max(253)
  .regex(
    /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
    "a DNS name",
  );

/** `https://ADDRESS[:PORT][/PREFIX]`: no credentials, query or fragment. */
const httpsBaseUrl = z
  .string()
  .url()
  .refine((text) => {
    const url = new URL(text);
    return (
      url.protocol === "https:" &&
      url.username === "" &&
      url.password === "" &&
      url.search === "" &&
      url.hash === ""
    );
  }, "an https:// URL without credentials, query or fragment");

/**
 * One place a host may fetch artifacts from: a depot host or the
 * provisioner. Artifacts are fetched from `<url>/cas/sha256/<sha256>`.
 * `name` appears verbatim in logs ("depot cp1", "the provisioner").
 * `serverName`, when given, is the name the server's certificate must carry
 * (hosts are dialled by address; their certificates name
 * `<host>.groundcrew.internal`); otherwise the URL's host is checked.
 */
export const artifactSourceSchema = z
  .object({
    name: z.string().min(1).max(100),
    url: httpsBaseUrl,
    serverName: dnsName.optional(),
  })
  .strict();
export type ArtifactSource = z.infer<typeof artifactSourceSchema>;

/**
 * What the provisioner writes for `groundcrew-agent depot serve --config FILE`:
 * where to listen, which store to serve, this host's TLS files (paths, read
 * by the agent as root) and the hosts (certificate CNs) allowed to fetch.
 */
export const depotConfigSchema = z
  .object({
    /** 0 picks a free port (tests); the command prints the port it got. */
    port: z.number().int().min(0).max(65535),
    /** Address to bind. Default 0.0.0.0. */
    bind: z.string().ip().optional(),
    /** The store's root. Default HOST_CAS_DIR. */
    root: absolutePath.optional(),
    tls: z.object({ ca: absolutePath, cert: absolutePath, key: absolutePath }).strict(),
    allowedHosts: z.array(z.string().min(1).max(253)).min(1),
  })
  .strict();
export type DepotConfig = z.infer<typeof depotConfigSchema>;
