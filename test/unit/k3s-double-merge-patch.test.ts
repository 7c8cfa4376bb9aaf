import { describe, expect, it } from "vitest";
import { mergePatch } from "../doubles/k3s/merge-patch.js";

describe("k3s double: JSON merge patch (RFC 7386)", () => {
  // RFC 7386 Appendix A: original, patch, result.
  const cases: [unknown, unknown, unknown][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [
      ["a", "b"],
      ["c", "d"],
      ["c", "d"],
    ],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];

  it.each(cases)("merges %j with %j into %j", (target, patch, result) => {
    expect(mergePatch(target, patch)).toEqual(result);
  });

  it("leaves both arguments untouched", () => {
    const target = { metadata: { labels: { a: "1", b: "2" } } };
    const patch = { metadata: { labels: { a: null, c: "3" } } };
    const merged = mergePatch(target, patch);
    expect(merged).toEqual({ metadata: { labels: { b: "2", c: "3" } } });
    expect(target).toEqual({ metadata: { labels: { a: "1", b: "2" } } });
    expect(patch).toEqual({ metadata: { labels: { a: null, c: "3" } } });
  });
});
