import { describe, expect, it } from "vitest";
import { formatBytes } from "../../shared/format-bytes.js";
import { parseRange } from "../../server/ws/artifact-route.js";

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1 KiB"],
    [1536, "1.5 KiB"],
    [33_835_484, "32.3 MiB"],
    [99_614_720, "95 MiB"],
    [5 * 2 ** 30, "5 GiB"],
    [1.25 * 2 ** 40, "1.25 TiB"],
  ])("%d bytes is %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe("the provisioner's artifact route: Range", () => {
  it.each([
    [undefined, undefined],
    ["bytes=0-", { start: 0, end: 99 }],
    ["bytes=40-", { start: 40, end: 99 }],
    ["bytes=10-19", { start: 10, end: 19 }],
    ["bytes=90-500", { start: 90, end: 99 }],
    ["bytes=100-", "unsatisfiable"],
    ["bytes=20-10", "unsatisfiable"],
    ["bytes=-10", undefined],
    ["bytes=0-1,5-6", undefined],
    ["items=0-", undefined],
  ] as const)("%s on a 100-byte file", (header, expected) => {
    expect(parseRange(header, 100)).toEqual(expected);
  });
});
