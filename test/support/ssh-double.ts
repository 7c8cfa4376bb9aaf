import type { AddressInfo } from "node:net";
import ssh2 from "ssh2";
import { generateLabKey, type SshKeyPair } from "../../server/lab/ssh-key.js";

/** What the double answers one command with. */
export interface ExecAnswer {
  readonly code: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

/** Answers `command` (as the remote shell would get it) given all it read on stdin. */
export type ExecHandler = (command: string, stdin: string) => ExecAnswer;

export interface SshDouble {
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** The key the double accepts for `user`: write `privateKey` to the inventory's key file. */
  readonly clientKey: SshKeyPair;
  /** The server's host key blob (what a client pins). */
  readonly hostKey: Buffer;
  /** Every command run, in order, as the shell got it. */
  readonly commands: string[];
  /** The login account's home directory, as SFTP realpath answers it. */
  readonly home: string;
  close(): Promise<void>;
}

/**
 * An SSH server on loopback in this process, standing in for a fleet host:
 * public-key login for one user, `exec` answered by `exec` once the
 * command's stdin reached EOF, and SFTP that knows `realpath` and refuses
 * everything else (an upload fails with permission denied). Real SSH on the
 * wire, so the provisioner's own SshSession, host-key pinning and sudo
 * wrappers run unchanged.
 */
export async function startSshDouble(options: {
  readonly user: string;
  readonly exec: ExecHandler;
  readonly home?: string;
}): Promise<SshDouble> {
  const clientKey = generateLabKey("ssh-double client");
  const allowed = ssh2.utils.parseKey(clientKey.publicKey);
  const hostPair = ssh2.utils.generateKeyPairSync("ed25519");
  const hostParsed = ssh2.utils.parseKey(hostPair.public);
  if (allowed instanceof Error || hostParsed instanceof Error)
    throw new Error("ssh-double: bad generated key");
  const home = options.home ?? `/home/${options.user}`;
  const commands: string[] = [];
  const { STATUS_CODE } = ssh2.utils.sftp;
  const server = new ssh2.Server({ hostKeys: [hostPair.private] }, (client) => {
    client.on("error", () => undefined);
    client.on("authentication", (ctx) => {
      if (ctx.username !== options.user || ctx.method !== "publickey") {
        ctx.reject(["publickey"]);
        return;
      }
      const keyMatches = ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH());
      const signed =
        ctx.signature === undefined ||
        (ctx.blob !== undefined && allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo));
      if (keyMatches && signed) ctx.accept();
      else ctx.reject(["publickey"]);
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        session.on("exec", (acceptExec, _reject, info) => {
          const stream = acceptExec();
          commands.push(info.command);
          const stdin: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => stdin.push(chunk));
          stream.on("end", () => {
            const answer = options.exec(info.command, Buffer.concat(stdin).toString("utf8"));
            if (answer.stdout !== undefined) stream.write(answer.stdout);
            if (answer.stderr !== undefined) stream.stderr.write(answer.stderr);
            stream.exit(answer.code);
            stream.end();
          });
        });
        session.on("sftp", (acceptSftp) => {
          const sftp = acceptSftp();
          sftp.on("REALPATH", (reqId) => {
            sftp.name(reqId, [{ filename: home, longname: home, attrs: {} as ssh2.Attributes }]);
          });
          sftp.on("OPEN", (reqId) => {
            sftp.status(reqId, STATUS_CODE.PERMISSION_DENIED, "permission denied");
          });
        });
      });
    });
  });
  await new Promise<void>((resolve) => {
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: "127.0.0.1",
    port,
    user: options.user,
    clientKey,
    hostKey: hostParsed.getPublicSSH(),
    commands,
    home,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
