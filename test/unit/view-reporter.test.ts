import { describe, expect, it } from "vitest";
import { silentLogger } from "../../server/log/logger.js";
import { ProgressView } from "../../server/cli/progress/progress-view.js";
import { viewReporter } from "../../server/cli/progress/view-reporter.js";

describe("viewReporter", () => {
  it("draws phases on the view and writes notes terminal-safe", () => {
    const drawn: string[] = [];
    const notes: string[] = [];
    const view = new ProgressView(["node1"], { write: (text) => drawn.push(text) }, "lines");
    const reporter = viewReporter(view, (line) => notes.push(line), silentLogger);
    reporter.phase("node1", "installing the agent");
    reporter.note("agent error: \u001b[31mred\u001b[0m");
    view.close();
    expect(drawn.join("")).toContain("installing the agent");
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain("agent error:");
    expect(notes[0]).not.toContain("\u001b");
  });
});
