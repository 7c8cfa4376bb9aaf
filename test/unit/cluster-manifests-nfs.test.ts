import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { ALL_STEPS } from "../../agent/steps/index.js";
import { k3sManifestsStep } from "../../agent/steps/k3s-manifests.js";
import { K3S_MANIFESTS_DIR, MANIFEST_NAME } from "../../shared/cluster-manifests.js";
import type { BundleArtifact } from "../../server/bundle/verified-bundle.js";
import { clusterLayout, installSteps } from "../../server/cluster/install-plan.js";
import { clusterManifests } from "../../server/cluster/manifests/cluster-manifests.js";
import { addonManifestName, PACKAGED_NAMES } from "../../server/cluster/manifests/manifest-names.js";
import {
  NFS_PROVISIONER_IMAGE,
  NFS_PROVISIONER_NAME,
  nfsProvisionerPullReference,
  nfsStorageManifest,
} from "../../server/cluster/manifests/nfs-storage.js";
import { parseInventory } from "../../server/inventory/load.js";
import type { Inventory, NfsStorage } from "../../server/inventory/types.js";
import type { Delivery } from "../../server/orchestrate/delivery.js";
import { directory } from "../fakes/fake-fs.js";
import { fakePrepHost } from "../fakes/prep-host.js";
import { stepHarness } from "../fakes/step-harness.js";

const NFS: NfsStorage = {
  server: "10.0.0.5",
  path: "/exports/k8s",
  storageClass: "nfs-rwx",
  mountOptions: ["nfsvers=4.1", "hard"],
  reclaimPolicy: "Delete",
  archiveOnDelete: false,
  line: 4,
};
const DEPOT_IMAGE = "10.0.0.11:5000/sig-storage/nfs-subdir-external-provisioner:v4.0.2";

/** Just what the assertions read of each object; anything else may be there. */
const objectSchema = z
  .object({ kind: z.string(), metadata: z.object({ name: z.string() }).passthrough() })
  .passthrough();
const deploymentSchema = z.object({
  spec: z.object({
    template: z.object({
      spec: z.object({
        serviceAccountName: z.string(),
        containers: z.array(
          z.object({
            image: z.string(),
            env: z.array(z.object({ name: z.string(), value: z.string() })),
            volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string() })),
          }),
        ),
        volumes: z.array(
          z.object({ name: z.string(), nfs: z.object({ server: z.string(), path: z.string() }) }),
        ),
      }),
    }),
  }),
});

function objectsOf(content: string) {
  const documents = parseAllDocuments(content);
  if (!Array.isArray(documents)) throw new Error("not a YAML stream");
  return documents.map((document) => {
    expect(document.errors).toEqual([]);
    return objectSchema.parse(document.toJS());
  });
}

function ofKind(objects: ReturnType<typeof objectsOf>, kind: string) {
  const found = objects.filter((object) => object.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] ?? expect.fail(kind);
}

describe("the NFS storage manifest", () => {
  it("renders exactly this text", () => {
    expect(nfsStorageManifest({ ...NFS, mountOptions: ["nfsvers=4.1"] }, DEPOT_IMAGE).content)
      .toMatchInlineSnapshot(`
      "# Written by groundcrew (k3s.manifests): the NFS storage class nfs-rwx and its provisioner. Do not edit: groundcrew rewrites it.
      apiVersion: v1
      kind: Namespace
      metadata:
        name: groundcrew-nfs
        labels:
          app.kubernetes.io/name: nfs-subdir-external-provisioner
          app.kubernetes.io/managed-by: groundcrew
      ---
      apiVersion: v1
      kind: ServiceAccount
      metadata:
        name: nfs-subdir-external-provisioner
        namespace: groundcrew-nfs
        labels:
          app.kubernetes.io/name: nfs-subdir-external-provisioner
          app.kubernetes.io/managed-by: groundcrew
      ---
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRole
      metadata:
        name: groundcrew-nfs-subdir-external-provisioner
        labels:
          app.kubernetes.io/name: nfs-subdir-external-provisioner
          app.kubernetes.io/managed-by: groundcrew
      rules:
        - apiGroups:
            - ""
          resources:
            - nodes
          verbs:
            - get
            - list
            - watch
        - apiGroups:
            - ""
          resources:
            - persistentvolumes
          verbs:
            - get
            - list
            - watch
            - create
            - delete
        - apiGroups:
            - ""
          resources:
            - persistentvolumeclaims
          verbs:
            - get
            - list
            - watch
            - update
        - apiGroups:
            - storage.k8s.io
          resources:
            - storageclasses
          verbs:
            - get
            - list
            - watch
        - apiGroups:
            - ""
          resources:
            - events
          verbs:
            - create
            - update
            - patch
      ---
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRoleBinding
      metadata:
        name: groundcrew-nfs-subdir-external-provisioner
        labels:
          app.kubernetes.io/name: nfs-subdir-external-provisioner
          app.kubernetes.io/managed-by: groundcrew
      subjects:
        - kind: ServiceAccount
          name: nfs-subdir-external-provisioner
          namespace: groundcrew-nfs
      roleRef:
        kind: ClusterRole
        name: groundcrew-nfs-subdir-external-provisioner
        apiGroup: rbac.authorization.k8s.io
      ---
      apiVersion: rbac.authorization.k8s.io/v1
      kind: Role
      metadata:
        name: leader-locking-nfs-subdir-external-provisioner
        namespace: groundcrew-nfs
        labels:
          app.kubernetes.io/name: nfs-subdir-external-provisioner
          app.kubernetes.io/managed-by: groundcrew
      rules:
        - apiGroups:
            - ""
          resources:
            - endpoints
          verbs:
            - get
            - list
            - watch
            - create
            - update
            - patch
        - apiGroups:
            - coordination.k8s.io
          resources:
            - leases
          verbs:
            - get
            - create
            - update
      ---
      apiVersion: rbac.authorization.k8s.io/v1
      kind: RoleBinding
      metadata:
        name: leader-locking-nfs-subdir-external-provisioner
        namespace: groundcrew-nfs
        labels:
          app.kubernetes.io/name: nfs-subdir-external-provisioner
          app.kubernetes.io/managed-by: groundcrew
      subjects:
        - kind: ServiceAccount
          name: nfs-subdir-external-provisioner
          namespace: groundcrew-nfs
      roleRef:
        kind: Role
        name: leader-locking-nfs-subdir-external-provisioner
        apiGroup: rbac.authorization.k8s.io
      ---
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: nfs-subdir-external-provisioner
        namespace: groundcrew-nfs
        labels:
          app.kubernetes.io/name: nfs-subdir-external-provisioner
          app.kubernetes.io/managed-by: groundcrew
      spec:
        replicas: 1
        strategy:
          type: Recreate
        selector:
          matchLabels:
            app.kubernetes.io/name: nfs-subdir-external-provisioner
        template:
          metadata:
            labels:
              app.kubernetes.io/name: nfs-subdir-external-provisioner
              app.kubernetes.io/managed-by: groundcrew
          spec:
            serviceAccountName: nfs-subdir-external-provisioner
            containers:
              - name: nfs-subdir-external-provisioner
                image: 10.0.0.11:5000/sig-storage/nfs-subdir-external-provisioner:v4.0.2
                imagePullPolicy: IfNotPresent
                env:
                  - name: PROVISIONER_NAME
                    value: groundcrew.io/nfs-subdir-external-provisioner
                  - name: NFS_SERVER
                    value: 10.0.0.5
                  - name: NFS_PATH
                    value: /exports/k8s
                volumeMounts:
                  - name: nfs-root
                    mountPath: /persistentvolumes
            volumes:
              - name: nfs-root
                nfs:
                  server: 10.0.0.5
                  path: /exports/k8s
      ---
      apiVersion: storage.k8s.io/v1
      kind: StorageClass
      metadata:
        name: nfs-rwx
        labels:
          app.kubernetes.io/name: nfs-subdir-external-provisioner
          app.kubernetes.io/managed-by: groundcrew
        annotations:
          storageclass.kubernetes.io/is-default-class: "false"
      provisioner: groundcrew.io/nfs-subdir-external-provisioner
      parameters:
        archiveOnDelete: "false"
      reclaimPolicy: Delete
      allowVolumeExpansion: true
      volumeBindingMode: Immediate
      mountOptions:
        - nfsvers=4.1
      "
    `);
  });

  it("holds the provisioner's objects in apply order, the namespace first", () => {
    const objects = objectsOf(nfsStorageManifest(NFS, DEPOT_IMAGE).content);
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual([
      "Namespace/groundcrew-nfs",
      "ServiceAccount/nfs-subdir-external-provisioner",
      "ClusterRole/groundcrew-nfs-subdir-external-provisioner",
      "ClusterRoleBinding/groundcrew-nfs-subdir-external-provisioner",
      "Role/leader-locking-nfs-subdir-external-provisioner",
      "RoleBinding/leader-locking-nfs-subdir-external-provisioner",
      "Deployment/nfs-subdir-external-provisioner",
      "StorageClass/nfs-rwx",
    ]);
    for (const object of objects.filter(
      (o) => !["Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass"].includes(o.kind),
    ))
      expect(object.metadata["namespace"], object.kind).toBe("groundcrew-nfs");
  });

  it("the StorageClass names the provisioner the Deployment runs as, and has the inventory's policy", () => {
    const objects = objectsOf(nfsStorageManifest(NFS, DEPOT_IMAGE).content);
    const storageClass = ofKind(objects, "StorageClass");
    const deployment = deploymentSchema.parse(ofKind(objects, "Deployment"));
    const [container, ...others] = deployment.spec.template.spec.containers;
    expect(others).toEqual([]);
    const env = Object.fromEntries(container?.env.map(({ name, value }) => [name, value]) ?? []);
    expect(env).toEqual({
      PROVISIONER_NAME: NFS_PROVISIONER_NAME,
      NFS_SERVER: "10.0.0.5",
      NFS_PATH: "/exports/k8s",
    });
    expect(storageClass["provisioner"]).toBe(env["PROVISIONER_NAME"]);
    expect(storageClass).toEqual({
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: {
        name: "nfs-rwx",
        labels: {
          "app.kubernetes.io/name": "nfs-subdir-external-provisioner",
          "app.kubernetes.io/managed-by": "groundcrew",
        },
        annotations: { "storageclass.kubernetes.io/is-default-class": "false" },
      },
      provisioner: NFS_PROVISIONER_NAME,
      // A map of strings: "false", not false.
      parameters: { archiveOnDelete: "false" },
      reclaimPolicy: "Delete",
      allowVolumeExpansion: true,
      volumeBindingMode: "Immediate",
      mountOptions: ["nfsvers=4.1", "hard"],
    });
    // Access modes are asked for by claims; a StorageClass has no such field.
    expect(Object.keys(storageClass)).not.toContain("accessModes");
    expect(container?.image).toBe(DEPOT_IMAGE);
    expect(container?.volumeMounts).toEqual([{ name: "nfs-root", mountPath: "/persistentvolumes" }]);
    expect(deployment.spec.template.spec.volumes).toEqual([
      { name: "nfs-root", nfs: { server: "10.0.0.5", path: "/exports/k8s" } },
    ]);
  });

  it("binds the roles to the ServiceAccount the Deployment runs under", () => {
    const objects = objectsOf(nfsStorageManifest(NFS, DEPOT_IMAGE).content);
    const account = ofKind(objects, "ServiceAccount").metadata.name;
    expect(deploymentSchema.parse(ofKind(objects, "Deployment")).spec.template.spec.serviceAccountName).toBe(
      account,
    );
    for (const [binding, role] of [
      ["ClusterRoleBinding", "ClusterRole"],
      ["RoleBinding", "Role"],
    ] as const) {
      expect(ofKind(objects, binding)).toMatchObject({
        subjects: [{ kind: "ServiceAccount", name: account, namespace: "groundcrew-nfs" }],
        roleRef: {
          kind: role,
          name: ofKind(objects, role).metadata.name,
          apiGroup: "rbac.authorization.k8s.io",
        },
      });
    }
    expect(ofKind(objects, "Role")["rules"]).toContainEqual({
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      verbs: ["get", "create", "update"],
    });
  });

  it("leaves out empty mount options, and writes the default archiving as the string true", () => {
    const objects = objectsOf(
      nfsStorageManifest(
        { ...NFS, mountOptions: [], archiveOnDelete: true, reclaimPolicy: "Retain" },
        DEPOT_IMAGE,
      ).content,
    );
    const storageClass = ofKind(objects, "StorageClass");
    expect(Object.keys(storageClass)).not.toContain("mountOptions");
    expect(storageClass["parameters"]).toEqual({ archiveOnDelete: "true" });
    expect(storageClass["reclaimPolicy"]).toBe("Retain");
  });

  it("pulls the image from the depot registry by its address, else by its upstream name", () => {
    expect(nfsProvisionerPullReference("10.0.0.11:5000")).toBe(DEPOT_IMAGE);
    expect(nfsProvisionerPullReference("[fd00::1]:5000")).toBe(
      "[fd00::1]:5000/sig-storage/nfs-subdir-external-provisioner:v4.0.2",
    );
    expect(nfsProvisionerPullReference(undefined)).toBe(NFS_PROVISIONER_IMAGE);
  });

  it("is deterministic: equal settings give the same bytes, any change other bytes", () => {
    const first = nfsStorageManifest(NFS, DEPOT_IMAGE);
    const copy = nfsStorageManifest({ ...NFS, mountOptions: [...NFS.mountOptions] }, DEPOT_IMAGE);
    expect(copy.content).toBe(first.content);
    expect(nfsStorageManifest({ ...NFS, archiveOnDelete: true }, DEPOT_IMAGE).content).not.toBe(
      first.content,
    );
    expect(nfsStorageManifest({ ...NFS, path: "/exports/other" }, DEPOT_IMAGE).content).not.toBe(
      first.content,
    );
    expect(
      first.content.startsWith("# Written by groundcrew (k3s.manifests): the NFS storage class nfs-rwx"),
    ).toBe(true);
  });

  it("has a manifest name of groundcrew's own, clashing with no k3s or add-on manifest", () => {
    const { name } = nfsStorageManifest(NFS, DEPOT_IMAGE);
    expect(name).toBe("groundcrew-nfs-storage");
    expect(name).toMatch(MANIFEST_NAME);
    expect(PACKAGED_NAMES as readonly string[]).not.toContain(name);
    expect(name.startsWith(addonManifestName(""))).toBe(false);
  });
});

const FILE = "/fleet/fleet.yaml";
const HOSTS = [
  "hosts:",
  "  - {name: cp1, address: 10.0.0.11, user: ops, role: server, depot: true}",
  "  - {name: w1, address: 10.0.0.21, user: ops}",
];
const STORAGE = ["storage:", "  nfs: {server: 10.0.0.5, path: /exports/k8s}"];
const inventoryOf = (lines: readonly string[]): Inventory =>
  parseInventory(lines.join("\n"), FILE, { fileExists: () => true, homeDir: "/home/op", env: {} });

let serial = 0;
function artifact(kind: "k3s-binary" | "registry"): BundleArtifact {
  serial += 1;
  return {
    entry: {
      path: `${kind}/${serial}`,
      kind,
      name: kind,
      version: "1",
      arch: "amd64",
      size: 1,
      sha256: "ab".repeat(32),
    },
  };
}

/** The k3s.manifests params a server's plan carries for `inventory`, as `up` builds them. */
function manifestsParams(inventory: Inventory) {
  const [server] = inventory.hosts;
  if (server === undefined) throw new Error("no host");
  const delivery: Delivery = {
    depot: server,
    depotStock: [],
    needs: new Map(
      inventory.hosts.map((host) => [host.name, [artifact("k3s-binary"), artifact("registry")]]),
    ),
  };
  const layout = clusterLayout(inventory, delivery);
  const manifests = clusterManifests({
    ports: inventory.cluster,
    gpu: false,
    images: ["sig-storage/nfs-subdir-external-provisioner:v4.0.2"],
    ...(layout.registryEndpoint === undefined ? {} : { registryEndpoint: layout.registryEndpoint }),
    addons: [],
    ...(inventory.storage.nfs === undefined ? {} : { nfs: inventory.storage.nfs }),
  });
  const step = installSteps(server, inventory, delivery, layout, [], manifests).steps.find(
    (candidate) => candidate.id === "k3s.manifests",
  );
  if (step === undefined) throw new Error("no k3s.manifests step");
  return z
    .object({ manifests: z.array(z.object({ name: z.string(), content: z.string() })) })
    .passthrough()
    .parse(step.params);
}

const NFS_FILE = `${K3S_MANIFESTS_DIR}/groundcrew-nfs-storage.yaml`;

describe("the NFS storage manifest in the k3s.manifests plan", () => {
  it("is planned only when storage.nfs is set, with the depot's image, and the agent accepts the params", () => {
    const withNfs = manifestsParams(inventoryOf([...HOSTS, ...STORAGE]));
    const without = manifestsParams(inventoryOf(HOSTS));
    expect(withNfs.manifests.map((manifest) => manifest.name)).toEqual([
      "groundcrew-traefik-config",
      "groundcrew-nfs-storage",
    ]);
    expect(without.manifests.map((manifest) => manifest.name)).toEqual(["groundcrew-traefik-config"]);
    expect(withNfs.manifests[1]?.content).toContain(`image: ${DEPOT_IMAGE}\n`);
    const agentStep = ALL_STEPS.find((candidate) => candidate.id === "k3s.manifests");
    expect(() => agentStep?.bind(withNfs)).not.toThrow();
    // Planned twice from the same inventory: the same bytes, so a re-run writes nothing.
    expect(manifestsParams(inventoryOf([...HOSTS, ...STORAGE]))).toEqual(withNfs);
  });

  it("on a server: placed by one run, untouched by the next, deleted (objects, then file) once the block is gone", async () => {
    const host = fakePrepHost({
      swap: false,
      extra: {
        [`${K3S_MANIFESTS_DIR}/coredns.yaml`]: "# packaged by k3s\n",
        "/var/lib/rancher/k3s/server/tls": directory(),
      },
    });
    const deleted: string[] = [];
    host.exec.answer(
      `/usr/local/bin/k3s kubectl delete -f ${NFS_FILE} --ignore-not-found --timeout=60s`,
      () => {
        deleted.push(NFS_FILE);
        return { stdout: "deleted\n" };
      },
    );
    const first = stepHarness(k3sManifestsStep, host, manifestsParams(inventoryOf([...HOSTS, ...STORAGE])));
    expect((await first.apply()).changes).toContain(`wrote ${NFS_FILE}`);
    expect(await host.fs.readText(NFS_FILE)).toContain("kind: StorageClass");
    expect((await first.check()).done).toBe(true);
    expect((await first.apply()).changes).toEqual([]);

    const removed = stepHarness(k3sManifestsStep, host, manifestsParams(inventoryOf(HOSTS)));
    const check = await removed.check();
    expect(check).toEqual({ done: false, reason: `${NFS_FILE} is no longer wanted` });
    expect((await removed.apply()).changes).toEqual([
      `deleted the objects of ${NFS_FILE}`,
      `removed ${NFS_FILE}`,
    ]);
    expect(deleted).toEqual([NFS_FILE]);
    expect(await host.fs.readTextIfExists(NFS_FILE)).toBeUndefined();
    expect(await host.fs.readText(`${K3S_MANIFESTS_DIR}/coredns.yaml`)).toBe("# packaged by k3s\n");
    expect((await removed.check()).done).toBe(true);
  });
});
