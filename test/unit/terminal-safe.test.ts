import { describe, expect, it } from "vitest";
import { terminalSafe } from "../../shared/terminal-safe.js";
import { renderTable } from "../../server/cli/table.js";

describe("terminalSafe", () => {
  it("shows control characters as visible escapes", () => {
    expect(terminalSafe("node1\u001b]0;owned\u0007\u001b[2J")).toBe("node1\\x1b]0;owned\\x07\\x1b[2J");
    expect(terminalSafe("a\nb\rc\td\u007f\u009b")).toBe("a\\nb\\rc\\td\\x7f\\x9b");
  });

  it("leaves printable text, including non-ASCII, alone", () => {
    expect(terminalSafe("Grüße — ノード 1")).toBe("Grüße — ノード 1");
  });
});

describe("renderTable", () => {
  it("aligns columns under a rule", () => {
    expect(
      renderTable(
        ["host", "ok"],
        [
          ["node1", "yes"],
          ["n2", "no"],
        ],
      ),
    ).toBe(["host   ok", "-----  ---", "node1  yes", "n2     no"].join("\n"));
  });
});
