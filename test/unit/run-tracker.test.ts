import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RunTracker } from "../../server/orchestrate/run-tracker.js";
import type { EventEnvelope } from "../../shared/protocol.js";

function finished(host: string, outcome: "succeeded" | "failed"): EventEnvelope {
  return {
    runId: "r1",
    host,
    seq: 9,
    at: "2026-11-22T00:00:00.000Z",
    event: { kind: "run.finished", outcome, succeeded: 1, skipped: 0, failed: outcome === "failed" ? 1 : 0 },
  };
}

describe("RunTracker", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is done when every host has finished, with each outcome", async () => {
    const tracker = new RunTracker(["a", "b"], 1000, () => undefined);
    tracker.expect("a");
    tracker.expect("b");
    tracker.event(finished("a", "succeeded"));
    tracker.event(finished("b", "failed"));
    expect([...(await tracker.done)]).toEqual([
      ["a", "succeeded"],
      ["b", "failed"],
    ]);
  });

  it("marks a host lost when it stays away past the grace, and not before", async () => {
    const lost: string[] = [];
    const tracker = new RunTracker(["a"], 1000, (host) => lost.push(host));
    tracker.expect("a");
    vi.advanceTimersByTime(999);
    expect(lost).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(lost).toEqual(["a"]);
    expect([...(await tracker.done)]).toEqual([["a", "lost"]]);
  });

  it("arms no timer for a host whose agent finished before it was expected", async () => {
    const lost: string[] = [];
    const tracker = new RunTracker(["a"], 1000, (host) => lost.push(host));
    tracker.event(finished("a", "succeeded"));
    tracker.expect("a");
    tracker.disconnected("a");
    expect(vi.getTimerCount()).toBe(0);
    expect([...(await tracker.done)]).toEqual([["a", "succeeded"]]);
    expect(lost).toEqual([]);
  });

  it("gives a host that reconnects (a reboot) a fresh start", () => {
    const lost: string[] = [];
    const tracker = new RunTracker(["a"], 1000, (host) => lost.push(host));
    tracker.expect("a");
    tracker.connected("a");
    tracker.disconnected("a");
    vi.advanceTimersByTime(800);
    tracker.connected("a");
    vi.advanceTimersByTime(5000);
    expect(lost).toEqual([]);
  });

  it("is done at once with no hosts", async () => {
    const tracker = new RunTracker([], 1000, () => undefined);
    expect([...(await tracker.done)]).toEqual([]);
  });

  it("counts a host settled from an earlier run (resume) and keeps its first outcome", async () => {
    const tracker = new RunTracker(["a", "b"], 1000, () => undefined);
    tracker.settled("a", "succeeded");
    tracker.event(finished("a", "failed"));
    tracker.expect("b");
    tracker.event(finished("b", "succeeded"));
    expect([...(await tracker.done)]).toEqual([
      ["a", "succeeded"],
      ["b", "succeeded"],
    ]);
  });

  it("finished(host) resolves with the host's outcome, at once when it already has one", async () => {
    const tracker = new RunTracker(["a", "b"], 1000, () => undefined);
    const pending = tracker.finished("a");
    const second = tracker.finished("a");
    tracker.event(finished("a", "failed"));
    expect(await pending).toBe("failed");
    expect(await second).toBe("failed");
    expect(await tracker.finished("a")).toBe("failed");
  });

  it("abandon() marks every host still out lost, clears their timers, and ends the wait", async () => {
    const lost: string[] = [];
    const tracker = new RunTracker(["a", "b", "c"], 1000, (host) => lost.push(host));
    tracker.expect("a");
    tracker.expect("b");
    tracker.event(finished("a", "succeeded"));
    const b = tracker.finished("b");
    tracker.abandon();
    expect(await b).toBe("lost");
    expect([...(await tracker.done)]).toEqual([
      ["a", "succeeded"],
      ["b", "lost"],
      ["c", "lost"],
    ]);
    expect(vi.getTimerCount()).toBe(0);
    // onLost is for hosts that went away, not for an interrupted wait.
    expect(lost).toEqual([]);
  });

  it("a host that disconnects before finishing gets a fresh grace, and is lost when it does not come back", async () => {
    const lost: string[] = [];
    const tracker = new RunTracker(["a"], 1000, (host) => lost.push(host));
    tracker.expect("a");
    tracker.connected("a");
    vi.advanceTimersByTime(5000);
    tracker.disconnected("a");
    vi.advanceTimersByTime(999);
    expect(lost).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(lost).toEqual(["a"]);
    expect([...(await tracker.done)]).toEqual([["a", "lost"]]);
  });

  it("arms no grace for a host whose agent was welcomed before it was expected (the depot, a resumed run)", async () => {
    const lost: string[] = [];
    const tracker = new RunTracker(["a"], 1000, (host) => lost.push(host));
    tracker.connected("a");
    tracker.expect("a");
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(lost).toEqual([]);
    tracker.event(finished("a", "succeeded"));
    expect([...(await tracker.done)]).toEqual([["a", "succeeded"]]);
  });

  it("a host welcomed before it was expected still gets a grace when it disconnects", async () => {
    const lost: string[] = [];
    const tracker = new RunTracker(["a"], 1000, (host) => lost.push(host));
    tracker.connected("a");
    tracker.expect("a");
    tracker.disconnected("a");
    vi.advanceTimersByTime(1000);
    expect(lost).toEqual(["a"]);
    expect([...(await tracker.done)]).toEqual([["a", "lost"]]);
  });
});
