import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { openCommandLog } from "../../server/log/command-log.js";
import { loggedSink } from "../../server/log/journal-commits.js";
import { KEPT_LOG_FILES, logsDir } from "../../server/log/log-file.js";
import { createLogger, errorFields, type Logger } from "../../server/log/logger.js";
import { prettyLine } from "../../server/log/pretty-line.js";
import type { RedactedLine } from "../../server/log/redacting-stream.js";
import { GroundcrewError } from "../../shared/errors.js";
import type { EventEnvelope } from "../../shared/protocol.js";
import { Redactor } from "../../shared/redactor.js";
import { Secret } from "../../shared/secret.js";
import { secretLeaks } from "../support/secret-forms.js";

/** A password with every character JSON must escape, and a token: the JSON line holds them only escaped. */
const PASSWORD = 'pa"ss\\wo\trd-7c1e9f';
const TOKEN = "K10feedface::server:0123456789abcdef";
const SECRETS = { password: PASSWORD, token: TOKEN };

const recordSchema = z.record(z.string(), z.unknown());

/** Logs what a careless call site might: secrets in the message, nested fields, bindings, errors and their causes. */
function logEverything(log: Logger): void {
  const child = log.child({ host: "cp1", peer: `token=${TOKEN}` });
  child.info(`joining with ${TOKEN}`);
  child.debug(
    {
      argv: ["curl", "-H", `Authorization: Bearer ${TOKEN}`],
      nested: { deeper: [{ password: PASSWORD }], [`key-${TOKEN}`]: 1 },
      secret: new Secret(PASSWORD),
      basic: Buffer.from(`node:${TOKEN}`).toString("base64"),
    },
    "ssh exec",
  );
  const cause = new Error(`sudo read: ${PASSWORD}`);
  const error = new GroundcrewError("AGENT_PUSH_FAILED", `cp1: cannot write: ${TOKEN}`, {
    cause,
    context: { host: "cp1", stdin: PASSWORD },
  });
  child.error(errorFields(error), "agent not started");
  child.warn({ err: new Error(`plain error ${PASSWORD}`) }, `printf style %s`, TOKEN);
}

function capture(): { lines: RedactedLine[]; text: () => string } {
  const lines: RedactedLine[] = [];
  return { lines, text: () => lines.map((line) => line.json).join("") };
}

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(path.join(tmpdir(), "gc-logger-"));
});
afterEach(() => {
  rmSync(stateDir, { recursive: true, force: true });
});

describe("the provisioner's logger", () => {
  it("redacts secrets wherever they sit: message, nested fields, keys, bindings, errors, causes, stacks", () => {
    const out = capture();
    const redactor = new Redactor([new Secret(PASSWORD), new Secret(TOKEN)]);
    logEverything(createLogger({ redactor, level: "debug", sinks: [(line) => out.lines.push(line)] }));

    expect(out.lines).toHaveLength(4);
    expect(secretLeaks(out.text(), SECRETS)).toEqual([]);
    const records = out
      .text()
      .trimEnd()
      .split("\n")
      .map((line) => recordSchema.parse(JSON.parse(line)));
    const [info, debug, error, warn] = records;
    expect(info).toMatchObject({
      level: "info",
      host: "cp1",
      peer: "token=[redacted]",
      msg: "joining with [redacted]",
    });
    expect(debug).toMatchObject({
      level: "debug",
      argv: ["curl", "-H", "Authorization: Bearer [redacted]"],
      nested: { deeper: [{ password: "[redacted]" }], "key-[redacted]": 1 },
      secret: "[redacted]",
    });
    expect(debug?.["basic"]).toMatch(/\[redacted\]/);
    expect(error).toMatchObject({
      level: "error",
      code: "AGENT_PUSH_FAILED",
      err: {
        type: "GroundcrewError",
        code: "AGENT_PUSH_FAILED",
        context: { host: "cp1", stdin: "[redacted]" },
      },
    });
    const err = z.object({ message: z.string(), stack: z.string() }).parse(error?.["err"]);
    // pino joins the cause's message and stack in: both redacted, the stack kept.
    expect(err.message).toBe("cp1: cannot write: [redacted]: sudo read: [redacted]");
    expect(err.stack).toMatch(/caused by: Error: sudo read: \[redacted\]\n\s+at /);
    expect(warn).toMatchObject({
      msg: "printf style [redacted]",
      err: { message: "plain error [redacted]" },
    });
  });

  it("the same calls through plain pino leak every secret (the search above can fail)", () => {
    let raw = "";
    logEverything(pino({ level: "debug" }, { write: (line: string) => (raw += line) }));
    expect(secretLeaks(raw, SECRETS)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^password/),
        expect.stringMatching(/^token \(as is/),
      ]) as unknown,
    );
  });

  it("learns secrets while the run goes: a token resolved later is redacted from then on", () => {
    const out = capture();
    const redactor = new Redactor();
    const log = createLogger({ redactor, level: "info", sinks: [(line) => out.lines.push(line)] });
    log.info({ token: TOKEN }, "before");
    redactor.add(new Secret(TOKEN));
    log.info({ token: TOKEN }, "after");
    expect(out.lines[0]?.record["token"]).toBe(TOKEN);
    expect(out.lines[1]?.record["token"]).toBe("[redacted]");
  });

  it("writes a command's log file 0600 in a 0700 directory: info by default, debug with --verbose", () => {
    const redactor = new Redactor([new Secret(TOKEN)]);
    const previous = process.umask(0);
    let stderr = "";
    try {
      const quiet = openCommandLog({
        command: "up",
        stateDir,
        redactor,
        verbose: false,
        stderr: (text) => (stderr += text),
      });
      quiet.log.debug("a debug line");
      quiet.log.info({ token: TOKEN }, "an info line");
      quiet.close();
      expect(stderr).toBe("");
      const file = quiet.file ?? "";
      expect(path.dirname(file)).toBe(logsDir(stateDir));
      expect(path.basename(file)).toMatch(/^\d{8}-\d{6}-up-[0-9a-f]{4}\.log$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(logsDir(stateDir)).mode & 0o777).toBe(0o700);
      const lines = readFileSync(file, "utf8")
        .trimEnd()
        .split("\n")
        .map((line) => recordSchema.parse(JSON.parse(line)));
      expect(lines.map((line) => line["msg"])).toEqual(["groundcrew up", "an info line"]);
      expect(lines[1]).toMatchObject({ level: "info", command: "up", token: "[redacted]" });

      const verbose = openCommandLog({
        command: "up",
        stateDir,
        redactor,
        verbose: true,
        stderr: (text) => (stderr += text),
      });
      verbose.log
        .child({ host: "cp1" })
        .debug({ cmd: `sudo -n -- k3s --token ${TOKEN}`, code: 0 }, "ssh exec");
      verbose.close();
      expect(readFileSync(verbose.file ?? "", "utf8")).toMatch(/"level":"debug".*"msg":"ssh exec"/);
      const shown = stderr.trimEnd().split("\n");
      expect(shown).toHaveLength(2);
      expect(shown[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}groundcrew up version=\S+ file=\S+\.log$/);
      expect(shown[1]).toMatch(
        /^\d\d:\d\d:\d\d\.\d{3} DEBUG \[cp1\] ssh exec cmd="sudo -n -- k3s --token \[redacted\]" code=0$/,
      );
    } finally {
      process.umask(previous);
    }
  });

  it("keeps the newest log files only, and goes on without a file it cannot create", () => {
    const dir = logsDir(stateDir);
    mkdirSync(dir, { recursive: true });
    for (let index = 0; index < KEPT_LOG_FILES + 5; index++) {
      writeFileSync(path.join(dir, `20300101-${String(100000 + index)}-up-abcd.log`), "");
    }
    writeFileSync(path.join(dir, "notes.txt"), "kept: not a log file");
    const log = openCommandLog({
      command: "check",
      stateDir,
      redactor: new Redactor(),
      verbose: false,
      stderr: () => undefined,
    });
    log.close();
    const left = readdirSync(dir).sort();
    expect(left.filter((name) => name.endsWith(".log"))).toHaveLength(KEPT_LOG_FILES);
    expect(left).toContain("notes.txt");
    expect(left).not.toContain("20300101-100005-up-abcd.log");
    expect(left).toContain("20300101-100006-up-abcd.log");

    const blocked = path.join(stateDir, "blocked");
    writeFileSync(blocked, "a file where the state directory should be");
    let stderr = "";
    const without = openCommandLog({
      command: "up",
      stateDir: blocked,
      redactor: new Redactor(),
      verbose: true,
      stderr: (text) => (stderr += text),
    });
    without.log.info("still logged to stderr");
    without.close();
    expect(without.file).toBeUndefined();
    expect(stderr).toMatch(/^groundcrew: cannot create a log file in .*; going on without it\n/);
    expect(stderr).toMatch(/INFO {2}still logged to stderr\n$/);
  });

  it("shows a record as exactly one terminal line, control characters escaped", () => {
    const line = prettyLine({
      level: "warn",
      time: "2030-01-01T12:34:56.789Z",
      host: "evil\u001b[2J",
      msg: "agent said\nhello\u0007",
      seq: 3,
      nested: { a: [1, "two"] },
      err: {
        type: "GroundcrewError",
        message: "boom",
        code: "JOURNAL_GAP",
        stack: "GroundcrewError: boom\n    at x",
      },
    });
    expect(line).toBe(
      '12:34:56.789 WARN  [evil\\x1b[2J] agent said\\nhello\\x07 seq=3 nested={"a":[1,"two"]} err="GroundcrewError: boom [JOURNAL_GAP]"\n',
    );
  });

  it("logs journal commits as counts and kinds, never bodies, and rethrows a refusal", () => {
    const out = capture();
    const log = createLogger({
      redactor: new Redactor(),
      level: "debug",
      sinks: [(line) => out.lines.push(line)],
    });
    const seen: number[] = [];
    const sink = loggedSink(
      {
        append: (envelope) => {
          if (envelope.seq === 4) throw new GroundcrewError("JOURNAL_GAP", "gap", { context: { seq: 4 } });
          seen.push(envelope.seq);
          return envelope.seq === 2 && seen.filter((seq) => seq === 2).length > 1 ? "duplicate" : "inserted";
        },
        appendGroup: () => {
          throw new Error("not used here");
        },
      },
      log,
    );
    const envelope = (seq: number, event: EventEnvelope["event"]): EventEnvelope => ({
      runId: "r1",
      host: "cp1",
      seq,
      at: "2030-01-01T00:00:00.000Z",
      event,
    });
    sink.append(envelope(1, { kind: "run.started", action: "apply", steps: 1 }));
    sink.append(
      envelope(2, { kind: "step.log", stepId: "k3s.install", stream: "stdout", line: "secret body line" }),
    );
    sink.append(
      envelope(2, { kind: "step.log", stepId: "k3s.install", stream: "stdout", line: "secret body line" }),
    );
    sink.append(
      envelope(3, { kind: "step.succeeded", stepId: "k3s.install", durationMs: 3, changes: ["body"] }),
    );
    expect(() =>
      sink.append(
        envelope(4, { kind: "run.finished", outcome: "succeeded", succeeded: 1, skipped: 0, failed: 0 }),
      ),
    ).toThrow(/gap/);
    expect(sink.summary()).toEqual({ inserted: 3, duplicates: 1, refused: 1 });
    const records = out.lines.map((line) => line.record);
    expect(records.map((record) => [record["level"], record["msg"], record["seq"] ?? null])).toEqual([
      ["debug", "journal commit", 1],
      ["debug", "journal commit", 3],
      ["warn", "journal refused an event", 4],
      ["info", "journal: events committed", null],
    ]);
    expect(records[2]).toMatchObject({ code: "JOURNAL_GAP", kind: "run.finished" });
    expect(out.text()).not.toMatch(/body/);
  });
});
