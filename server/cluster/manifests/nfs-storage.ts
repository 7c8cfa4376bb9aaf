import { parseImageReference } from "../../../agent/registry/reference.js";
import type { NfsStorage } from "../../inventory/types.js";
import { NFS_STORAGE_MANIFEST } from "./manifest-names.js";
import { renderObjects, type ClusterManifest } from "./render-yaml.js";

/** The provisioner's image as upstream publishes it; the bundle must hold it (an image archive). */
export const NFS_PROVISIONER_IMAGE = "registry.k8s.io/sig-storage/nfs-subdir-external-provisioner:v4.0.2";
/**
 * The provisioner's name: the Deployment's PROVISIONER_NAME and the
 * StorageClass's `provisioner` (they must be equal). groundcrew's own, so a
 * provisioner installed by other means with the upstream default name does
 * not claim this class's volumes.
 */
export const NFS_PROVISIONER_NAME = "groundcrew.io/nfs-subdir-external-provisioner";
/** Where the provisioner runs. */
export const NFS_NAMESPACE = "groundcrew-nfs";

const APP = "nfs-subdir-external-provisioner";
const LABELS = { "app.kubernetes.io/name": APP, "app.kubernetes.io/managed-by": "groundcrew" } as const;
/** The cluster-wide RBAC objects, named so they cannot collide with an upstream install's. */
const RUNNER = `groundcrew-${APP}`;
const LEADER_LOCKING = `leader-locking-${APP}`;

/**
 * The image as pods pull it: from the depot registry by its address when
 * there is one (as the device plugin is), else the upstream reference
 * (resolved through k3s's registry mirrors).
 */
export function nfsProvisionerPullReference(registryEndpoint: string | undefined): string {
  if (registryEndpoint === undefined) return NFS_PROVISIONER_IMAGE;
  const { repository, tag } = parseImageReference(NFS_PROVISIONER_IMAGE, "the NFS provisioner image");
  return `${registryEndpoint}/${repository}:${tag}`;
}

/**
 * The NFS subdir external provisioner as plain objects, in apply order:
 * its Namespace, ServiceAccount, the ClusterRole/Binding it provisions
 * with (PersistentVolumes, claims, classes, events, nodes), the
 * Role/Binding for leader election (leases, endpoints), one Deployment
 * (Recreate: never two writers) mounting the export at /persistentvolumes,
 * and the StorageClass. The class is never the default one (annotated
 * so): k3s's local-path stays the default. Access modes belong to claims,
 * not to a class: claims of this class may ask for ReadWriteMany. The
 * provisioner's own mount of the export takes no mount options (a pod's
 * nfs volume has none); the volumes it provisions use `mountOptions`.
 * Pure: the same settings and image give the same text.
 */
export function nfsStorageManifest(nfs: NfsStorage, image: string): ClusterManifest {
  const namespaced = (name: string) => ({ name, namespace: NFS_NAMESPACE, labels: LABELS });
  const objects = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NFS_NAMESPACE, labels: LABELS } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: namespaced(APP) },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: RUNNER, labels: LABELS },
      rules: [
        { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
        {
          apiGroups: [""],
          resources: ["persistentvolumes"],
          verbs: ["get", "list", "watch", "create", "delete"],
        },
        { apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["get", "list", "watch", "update"] },
        { apiGroups: ["storage.k8s.io"], resources: ["storageclasses"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["events"], verbs: ["create", "update", "patch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: RUNNER, labels: LABELS },
      subjects: [{ kind: "ServiceAccount", name: APP, namespace: NFS_NAMESPACE }],
      roleRef: { kind: "ClusterRole", name: RUNNER, apiGroup: "rbac.authorization.k8s.io" },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: namespaced(LEADER_LOCKING),
      rules: [
        {
          apiGroups: [""],
          resources: ["endpoints"],
          verbs: ["get", "list", "watch", "create", "update", "patch"],
        },
        { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: namespaced(LEADER_LOCKING),
      subjects: [{ kind: "ServiceAccount", name: APP, namespace: NFS_NAMESPACE }],
      roleRef: { kind: "Role", name: LEADER_LOCKING, apiGroup: "rbac.authorization.k8s.io" },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: namespaced(APP),
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: { "app.kubernetes.io/name": APP } },
        template: {
          metadata: { labels: LABELS },
          spec: {
            serviceAccountName: APP,
            containers: [
              {
                name: APP,
                image,
                imagePullPolicy: "IfNotPresent",
                env: [
                  { name: "PROVISIONER_NAME", value: NFS_PROVISIONER_NAME },
                  { name: "NFS_SERVER", value: nfs.server },
                  { name: "NFS_PATH", value: nfs.path },
                ],
                volumeMounts: [{ name: "nfs-root", mountPath: "/persistentvolumes" }],
              },
            ],
            volumes: [{ name: "nfs-root", nfs: { server: nfs.server, path: nfs.path } }],
          },
        },
      },
    },
    {
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: {
        name: nfs.storageClass,
        labels: LABELS,
        annotations: { "storageclass.kubernetes.io/is-default-class": "false" },
      },
      provisioner: NFS_PROVISIONER_NAME,
      // StorageClass parameters are strings.
      parameters: { archiveOnDelete: String(nfs.archiveOnDelete) },
      reclaimPolicy: nfs.reclaimPolicy,
      allowVolumeExpansion: true,
      volumeBindingMode: "Immediate",
      ...(nfs.mountOptions.length === 0 ? {} : { mountOptions: [...nfs.mountOptions] }),
    },
  ];
  return {
    name: NFS_STORAGE_MANIFEST,
    content: renderObjects(`the NFS storage class ${nfs.storageClass} and its provisioner`, objects),
  };
}
