import { describe, expect, it } from "vitest";
import { parseSocketTable, readListening } from "../../agent/facts/listening.js";
import { fakeFs } from "../fakes/fake-fs.js";

const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue";

describe("listening ports from /proc/net", () => {
  it("counts TCP sockets in LISTEN only, not established ones", () => {
    const table = [
      HEADER,
      "   0: 0100007F:1A0B 00000000:0000 0A 00000000:00000000",
      "   1: 0B00000A:0016 0100000A:D431 01 00000000:00000000",
      "   2: 00000000:0016 00000000:0000 0a 00000000:00000000",
    ].join("\n");
    expect(parseSocketTable(table, "tcp")).toEqual([22, 6667]);
  });

  it("counts UDP sockets without a remote peer", () => {
    const table = [
      HEADER,
      "   0: 00000000:2118 00000000:0000 07",
      "   1: 0B00000A:9C40 0100000A:0035 01",
    ].join("\n");
    expect(parseSocketTable(table, "udp")).toEqual([8472]);
  });

  it("merges IPv4 and IPv6 tables and treats missing tables as empty", async () => {
    const fs = fakeFs({
      "/proc/net/tcp": `${HEADER}\n   0: 00000000:1A0B 00000000:0000 0A\n`,
      "/proc/net/tcp6": `${HEADER}\n   0: 00000000000000000000000000000000:1A0B 00000000000000000000000000000000:0000 0A\n   1: 00000000000000000000000000000000:2710 00000000000000000000000000000000:0000 0A\n`,
    });
    expect(await readListening(fs)).toEqual({ tcp: [6667, 10000], udp: [] });
  });
});
