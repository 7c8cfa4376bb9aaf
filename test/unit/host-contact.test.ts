import { describe, expect, it } from "vitest";
import { HostContact } from "../../server/orchestrate/host-contact.js";

function contact(options: { failingJournal?: boolean } = {}) {
  const calls: string[] = [];
  const subject = new HostContact({
    tracker: {
      connected: (host) => calls.push(`connected ${host}`),
      disconnected: (host) => calls.push(`disconnected ${host}`),
    },
    markLost: (host, reason) => {
      if (options.failingJournal === true) throw new Error("disk full");
      calls.push(`journal lost ${host}: ${reason}`);
    },
    report: (host, text) => calls.push(`report ${host}: ${text}`),
    deadlineMs: 15_000,
    graceMs: 120_000,
  });
  return { subject, calls };
}

describe("HostContact", () => {
  it("marks a host silent past the deadline lost in the journal, reports it and starts its grace", () => {
    const { subject, calls } = contact();
    subject.welcomed("node3");
    subject.silent("node3");
    subject.disconnected("node3");
    expect(calls).toEqual([
      "connected node3",
      "disconnected node3",
      "report node3: connection lost: silent for more than 15 s (ping deadline); waiting up to 120 s for it to come back",
      "journal lost node3: connection lost: silent for more than 15 s (ping deadline); waiting up to 120 s for it",
      "disconnected node3",
    ]);
  });

  it("reports a lost host that is welcomed again as back, once", () => {
    const { subject, calls } = contact();
    subject.silent("node3");
    calls.length = 0;
    subject.welcomed("node3");
    subject.disconnected("node3");
    subject.welcomed("node3");
    expect(calls).toEqual([
      "connected node3",
      "report node3: back in contact: its agent redialed and resends what it holds",
      "disconnected node3",
      "connected node3",
    ]);
  });

  it("marks nothing and reports nothing for a clean disconnect (agent restart, reboot)", () => {
    const { subject, calls } = contact();
    subject.welcomed("node2");
    subject.disconnected("node2");
    subject.welcomed("node2");
    expect(calls).toEqual(["connected node2", "disconnected node2", "connected node2"]);
  });

  it("starts the grace even when the journal cannot record the mark", () => {
    const { subject, calls } = contact({ failingJournal: true });
    expect(() => {
      subject.silent("node3");
    }).toThrow("disk full");
    expect(calls[0]).toBe("disconnected node3");
    subject.welcomed("node3");
    expect(calls.at(-1)).toBe("report node3: back in contact: its agent redialed and resends what it holds");
  });
});
