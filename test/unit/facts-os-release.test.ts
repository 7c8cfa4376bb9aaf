import { describe, expect, it } from "vitest";
import { parseOsRelease, readOs, unquote } from "../../agent/facts/os-release.js";
import { fakeFs } from "../fakes/fake-fs.js";

describe("os-release quoting", () => {
  it("keeps single-quoted text literally, backslashes included", () => {
    expect(unquote("'a \\\" b'")).toBe('a \\" b');
    expect(unquote("'Rocky Linux 9.3 (Blue Onyx)'")).toBe("Rocky Linux 9.3 (Blue Onyx)");
  });

  it('unescapes only " \\ $ and ` inside double quotes, as the shell does', () => {
    expect(unquote('"a\\"b\\\\c\\$d\\`e"')).toBe('a"b\\c$d`e');
    expect(unquote('"keep\\n\\x"')).toBe("keep\\n\\x");
  });

  it("handles bare values, unquoted escapes, concatenation and unterminated quotes", () => {
    expect(unquote("bookworm")).toBe("bookworm");
    expect(unquote("a\\ b")).toBe("a b");
    expect(unquote("\"Debian \"'12'")).toBe("Debian 12");
    expect(unquote('"open')).toBe("open");
    expect(unquote('""')).toBe("");
  });

  it("skips comments, blank lines and non-assignments; a later duplicate wins; CRLF is tolerated", () => {
    const fields = parseOsRelease(
      '  # ID=commented\r\n\r\nID=first\r\nID=ubuntu\r\nexport X=1\r\n=nokey\r\nVERSION_ID="24.04"\r\n',
    );
    expect([...fields]).toEqual([
      ["ID", "ubuntu"],
      ["VERSION_ID", "24.04"],
    ]);
  });
});

describe("readOs", () => {
  it("prefers /etc/os-release over /usr/lib/os-release", async () => {
    const fs = fakeFs({
      "/etc/os-release":
        'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
      "/usr/lib/os-release": "ID=ignored\n",
    });
    expect(await readOs(fs)).toEqual({
      id: "debian",
      versionId: "12",
      codename: "bookworm",
      prettyName: "Debian GNU/Linux 12 (bookworm)",
    });
  });

  it("reports every field empty when neither file exists", async () => {
    expect(await readOs(fakeFs({}))).toEqual({ id: "", versionId: "", codename: "", prettyName: "" });
  });
});
