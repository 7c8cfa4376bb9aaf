import { once } from "node:events";
import { connect as tcpConnect, type Socket } from "node:net";
import ssh2, { type ClientChannel, type ConnectConfig, type SFTPWrapper } from "ssh2";
import { GroundcrewError } from "../../shared/errors.js";
import type { Exec, ExecOptions, ExecResult } from "../../shared/host-io.js";
import { silentLogger, type Logger } from "../log/logger.js";
import { fingerprint, type HostKeyCheck } from "./host-key.js";
import { shellQuote } from "./shell-quote.js";

export interface SshTarget {
  /** Name used in errors (the inventory host name). */
  readonly name: string;
  readonly host: string;
  readonly port?: number;
  readonly username: string;
  /** OpenSSH or PEM private key. Secret: never logged, never part of an error. Without it, ssh-agent ($SSH_AUTH_SOCK) is used. */
  readonly privateKey?: string;
  readonly hostKeys: HostKeyCheck;
  readonly readyTimeoutMs?: number;
  /**
   * Diagnostics: the connection and its host-key decision at info, each
   * command (the quoted argv as the host's shell gets it, never its input),
   * exit code and duration at debug. Default: none.
   */
  readonly log?: Logger;
}

/**
 * One authenticated SSH connection. It is an Exec (commands as argv, quoted
 * for the remote shell), so host code runs over it unchanged; wrap it with
 * withSudo() for root.
 */
export class SshSession implements Exec {
  private constructor(
    readonly target: SshTarget,
    private readonly client: ssh2.Client,
    /** This machine's address on the connection: where the host can reach the provisioner. */
    readonly localAddress: string,
    private readonly socket: Socket,
  ) {}

  /** The target's logger, or one that writes nothing. */
  private get log(): Logger {
    return this.target.log ?? silentLogger;
  }

  /** Bytes this provisioner has written to the connection so far (encrypted, with SSH framing): its uplink cost. */
  get bytesWritten(): number {
    return this.socket.bytesWritten;
  }

  /**
   * Throws GroundcrewError SSH_HOSTKEY_MISMATCH (with both fingerprints) when
   * the server's host key is not pinned, before any credential is sent, or
   * SSH_CONNECT_FAILED (retryable) when the server cannot be reached or refuses us.
   */
  static async connect(target: SshTarget): Promise<SshSession> {
    const port = target.port ?? 22;
    const log = target.log ?? silentLogger;
    log.debug({ address: `${target.host}:${port}`, user: target.username }, "ssh connecting");
    const socket = await openSocket(target, port, target.readyTimeoutMs ?? 20_000);
    const client = new ssh2.Client();
    let presented: Buffer | undefined;
    const auth: Partial<ConnectConfig> =
      target.privateKey !== undefined
        ? { privateKey: target.privateKey }
        : { agent: process.env["SSH_AUTH_SOCK"] };
    await new Promise<void>((resolve, reject) => {
      client
        .once("ready", () => {
          resolve();
        })
        .once("error", (cause) => {
          client.end();
          socket.destroy();
          if (presented !== undefined && !target.hostKeys.accepts(presented)) {
            const refused = hostKeyError(target, presented);
            log.warn({ code: refused.code, fingerprint: fingerprint(presented) }, "ssh host key refused");
            reject(refused);
            return;
          }
          reject(
            new GroundcrewError(
              "SSH_CONNECT_FAILED",
              `${target.name}: SSH to ${target.username}@${target.host}:${port} failed: ${cause.message}`,
              { cause, retryable: true, context: { host: target.name, address: target.host } },
            ),
          );
        })
        .connect({
          sock: socket,
          username: target.username,
          ...auth,
          readyTimeout: target.readyTimeoutMs ?? 20_000,
          hostVerifier: (key: Buffer) => {
            presented = key;
            return target.hostKeys.accepts(key);
          },
        });
    });
    try {
      if (presented !== undefined) await target.hostKeys.confirmed?.(presented);
    } catch (error) {
      client.end();
      socket.destroy();
      throw error;
    }
    log.info(
      {
        address: `${target.host}:${port}`,
        user: target.username,
        auth: target.privateKey === undefined ? "ssh-agent" : "key",
        ...(presented === undefined ? {} : { fingerprint: fingerprint(presented) }),
        hostKey:
          target.hostKeys.expected.length === 0 ? "first contact: pinned now" : "matches the pinned key",
      },
      "ssh connected",
    );
    return new SshSession(target, client, socket.localAddress ?? "", socket);
  }

  run(argv: readonly [string, ...string[]], options: ExecOptions = {}): Promise<ExecResult> {
    const env = options.env === undefined ? [] : Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
    const command = shellQuote(env.length > 0 ? ["env", ...env, ...argv] : argv);
    const started = Date.now();
    const stdin = options.input !== undefined || options.inputStream !== undefined;
    return new Promise((resolve, reject) => {
      this.client.exec(command, (error, channel) => {
        if (error !== undefined) {
          this.log.debug({ cmd: command, err: error }, "ssh exec failed to start");
          reject(this.commandError(argv[0], error));
          return;
        }
        collect(channel, options, (result) => {
          this.log.debug(
            { cmd: command, ...(stdin ? { stdin } : {}), code: result.code, ms: Date.now() - started },
            "ssh exec",
          );
          resolve(result);
        });
      });
    });
  }

  /** Copies a local file to the remote path with the given mode (SFTP). */
  async upload(
    localPath: string,
    remotePath: string,
    mode: number,
    onProgress?: (bytesDone: number, bytesTotal: number) => void,
  ): Promise<void> {
    const sftp = await this.sftp();
    const started = Date.now();
    try {
      await new Promise<void>((resolve, reject) => {
        const step =
          onProgress === undefined
            ? {}
            : {
                step: (done: number, _chunk: number, total: number) => {
                  onProgress(done, total);
                },
              };
        sftp.fastPut(localPath, remotePath, { mode, ...step }, (error) => {
          if (error === undefined || error === null) resolve();
          else reject(this.commandError(`upload to ${remotePath}`, error));
        });
      });
      this.log.debug({ remotePath, ms: Date.now() - started }, "sftp upload");
    } finally {
      sftp.end();
    }
  }

  /** The login account's home directory, absolute. */
  async homeDirectory(): Promise<string> {
    const sftp = await this.sftp();
    try {
      return await new Promise<string>((resolve, reject) => {
        sftp.realpath(".", (error, path) => {
          if (error === undefined) resolve(path);
          else reject(this.commandError("realpath", error));
        });
      });
    } finally {
      sftp.end();
    }
  }

  close(): void {
    this.client.end();
  }

  private sftp(): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) => {
      this.client.sftp((error, sftp) => {
        if (error === undefined) resolve(sftp);
        else reject(this.commandError("sftp", error));
      });
    });
  }

  private commandError(what: string, cause: Error): GroundcrewError {
    return new GroundcrewError("SSH_COMMAND_FAILED", `${this.target.name}: ${what}: ${cause.message}`, {
      cause,
      context: { host: this.target.name },
    });
  }
}

function openSocket(target: SshTarget, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: target.host, port });
    const timer = setTimeout(() => {
      socket.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (cause) => {
      clearTimeout(timer);
      reject(
        new GroundcrewError(
          "SSH_CONNECT_FAILED",
          `${target.name}: cannot reach ${target.host}:${port}: ${cause.message}`,
          { cause, retryable: true, context: { host: target.name, address: target.host } },
        ),
      );
    });
  });
}

/** SSH_HOSTKEY_UNKNOWN on first contact without consent, SSH_HOSTKEY_MISMATCH with both fingerprints otherwise. */
function hostKeyError(target: SshTarget, presented: Buffer): GroundcrewError {
  const context = { host: target.name, address: target.host };
  if (target.hostKeys.expected.length === 0) {
    return new GroundcrewError(
      "SSH_HOSTKEY_UNKNOWN",
      `${target.name}: first contact with ${target.host}, host key ${fingerprint(presented)}: ` +
        "verify it and run again with --accept-new-host-keys to pin it",
      { context },
    );
  }
  return new GroundcrewError(
    "SSH_HOSTKEY_MISMATCH",
    `${target.name}: host key ${fingerprint(presented)} is not the pinned one ` +
      `(${target.hostKeys.expected.map(fingerprint).join(", ")})`,
    { context },
  );
}

function collect(channel: ClientChannel, options: ExecOptions, resolve: (result: ExecResult) => void): void {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let timedOut = false;
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          channel.signal("KILL");
          channel.close();
        }, options.timeoutMs);
  channel.on("data", (chunk: Buffer) => stdout.push(chunk));
  channel.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  channel.on("close", (code: number | null | undefined, signal: string | undefined) => {
    if (timer !== undefined) clearTimeout(timer);
    const exit = timedOut ? 124 : typeof code === "number" ? code : signal !== undefined ? 128 + 9 : 255;
    resolve({
      code: exit,
      stdout: Buffer.concat(stdout).toString("utf8"),
      stderr: Buffer.concat(stderr).toString("utf8"),
    });
  });
  void feedInput(channel, options);
}

/** Writes `input`, then `inputStream` with backpressure, then closes stdin; a failed stream closes the channel. */
async function feedInput(channel: ClientChannel, options: ExecOptions): Promise<void> {
  if (options.inputStream === undefined) {
    if (options.input !== undefined) channel.end(options.input);
    else channel.end();
    return;
  }
  const closed = new AbortController();
  channel.once("close", () => {
    closed.abort();
  });
  try {
    if (options.input !== undefined) channel.write(options.input);
    for await (const chunk of options.inputStream) {
      if (closed.signal.aborted) return;
      if (!channel.write(chunk)) await once(channel, "drain", { signal: closed.signal });
    }
    channel.end();
  } catch {
    if (!closed.signal.aborted) channel.close();
  }
}
