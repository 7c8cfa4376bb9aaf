import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { isGroundcrewError } from "../../shared/errors.js";
import { parseInventory } from "../../server/inventory/load.js";
import { toYaml } from "../../server/inventory/to-yaml.js";
import type { InventoryDeps } from "../../server/inventory/types.js";

const FILE = "/fleet/fleet.yaml";
const deps: InventoryDeps = { fileExists: (path) => !path.includes("missing"), homeDir: "/home/op", env: {} };
const HOSTS = ["hosts:", "  - {name: cp1, user: ops, role: server}"];

function problems(lines: readonly string[]): string[] {
  try {
    parseInventory(lines.join("\n"), FILE, deps);
  } catch (error) {
    if (isGroundcrewError(error, "INVENTORY_INVALID")) return error.message.split("\n").slice(1);
    throw error;
  }
  throw new Error("expected the inventory to be refused");
}

describe("inventory add-ons", () => {
  it("reads add-ons: chart, version, namespace, inline values or a values file, images", () => {
    const inventory = parseInventory(
      [
        ...HOSTS,
        /* 3 */ "addons:",
        /* 4 */ "  - name: hello",
        /* 5 */ "    chart: helm-chart/hello-1.0.0.tgz",
        /* 6 */ '    version: "1.0.0"',
        /* 7 */ "    namespace: apps",
        /* 8 */ "    values:",
        /* 9 */ "      replicas: 2",
        /* 10 */ "      image: {repository: hello, tag: '1.0'}",
        /* 11 */ "    images: [docker.io/library/hello:1.0]",
        /* 12 */ "  - name: metrics",
        /* 13 */ "    chart: prometheus",
        /* 14 */ "    values: values/metrics.yaml",
      ].join("\n"),
      FILE,
      deps,
    );
    expect(inventory.addons).toEqual([
      {
        name: "hello",
        chart: "helm-chart/hello-1.0.0.tgz",
        version: "1.0.0",
        namespace: "apps",
        values: { source: "inline", yaml: 'replicas: 2\nimage:\n  repository: hello\n  tag: "1.0"\n' },
        images: ["docker.io/library/hello:1.0"],
        line: 4,
      },
      {
        name: "metrics",
        chart: "prometheus",
        namespace: "default",
        values: { source: "file", path: "/fleet/values/metrics.yaml" },
        images: [],
        line: 12,
      },
    ]);
  });

  it("has none when the key is absent, and INI inventories have none", () => {
    expect(parseInventory(HOSTS.join("\n"), FILE, deps).addons).toEqual([]);
    expect(parseInventory("[driver]\ncp1 ansible_user=ops\n", "/fleet/hosts.ini", deps).addons).toEqual([]);
  });

  it("reports every bad add-on at its line, naming the file", () => {
    expect(
      problems([
        ...HOSTS,
        /* 3 */ "addons:",
        /* 4 */ "  - name: Bad_Name",
        /* 5 */ "    chart: x",
        /* 6 */ "  - name: traefik",
        /* 7 */ "    chart: traefik",
        /* 8 */ "  - name: nochart",
        /* 9 */ "    namespace: apps",
        /* 10 */ "  - name: ok",
        /* 11 */ "    chart: ok",
        /* 12 */ "    charts: typo",
        /* 13 */ "    values: [1, 2]",
        /* 14 */ "    images:",
        /* 15 */ "      - busybox@sha256:abc",
        /* 16 */ "      - 42",
        /* 17 */ "  - name: vals",
        /* 18 */ "    chart: vals",
        /* 19 */ "    namespace: Not_A_Namespace",
        /* 20 */ "    values: missing/values.yaml",
        /* 21 */ "  - name: twice",
        /* 22 */ "    chart: a",
        /* 23 */ "  - name: twice",
        /* 24 */ "    chart: b",
      ]),
    ).toEqual([
      `${FILE}:4: add-on name "Bad_Name" must be lowercase letters, digits and "-", starting and ending with a letter or digit, at most 53 characters`,
      `${FILE}:6: add-on name "traefik" is one of k3s's packaged components: choose another`,
      `${FILE}:8: add-on has no chart: name a helm-chart artifact of the bundle (its path or name)`,
      `${FILE}:12: unknown key "charts" in add-on (did you mean "chart"?)`,
      `${FILE}:13: values must be a map of Helm values or the path of a values file, got a list`,
      `${FILE}:15: images: image name "busybox@sha256:abc" is a reference by digest; a tag is needed`,
      `${FILE}:16: images items must be image references, got 42`,
      `${FILE}:19: namespace "Not_A_Namespace" is not a valid Kubernetes namespace name`,
      `${FILE}:23: add-on name "twice" is already used at line 21`,
    ]);
  });

  it("reports a values file that does not exist at its line", () => {
    expect(
      problems([...HOSTS, "addons:", "  - name: vals", "    chart: vals", "    values: missing/v.yaml"]),
    ).toEqual([`${FILE}:6: values file of add-on "vals": /fleet/missing/v.yaml does not exist`]);
  });

  it("addons must be a list of maps", () => {
    expect(problems([...HOSTS, "addons: hello"])).toEqual([`${FILE}:3: addons must be a list, got "hello"`]);
    expect(problems([...HOSTS, "addons:", "  - hello"])).toEqual([
      `${FILE}:4: add-on must be a map, got "hello"`,
    ]);
  });

  it("converts back to YAML with its add-ons", () => {
    const inventory = parseInventory(
      [
        ...HOSTS,
        "addons:",
        "  - {name: hello, chart: hello, namespace: apps, values: {replicas: 2}, images: [hello:1.0]}",
      ].join("\n"),
      FILE,
      deps,
    );
    expect(parse(toYaml(inventory))).toMatchObject({
      addons: [
        { name: "hello", chart: "hello", namespace: "apps", values: { replicas: 2 }, images: ["hello:1.0"] },
      ],
    });
  });
});
