import { mkdir } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "./files.js";
import { info } from "./log.js";

/** What the packaged manifests are filled in with (k3s's %{...}% template variables). */
export interface PackagedSettings {
  /** `default-local-storage-path` (default `<data-dir>/storage`). */
  readonly localStoragePath: string;
  /** `system-default-registry` (images are prefixed `<registry>/`); "" for none. */
  readonly systemDefaultRegistry: string;
}

const RUNTIME_CLASSES = [
  "nvidia",
  "nvidia-experimental",
  "crun",
  "lunatic",
  "slight",
  "spin",
  "wws",
  "wasmedge",
  "wasmer",
  "wasmtime",
];

/** k3s's packaged runtimes.yaml: one RuntimeClass per runtime it may find, handler = name. */
function runtimesYaml(): string {
  return RUNTIME_CLASSES.map(
    (name) =>
      `apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: ${name}\nhandler: ${name}\n`,
  ).join("---\n");
}

/** k3s's packaged local-storage.yaml: the local-path provisioner and its default StorageClass `local-path`. */
function localStorageYaml(settings: PackagedSettings): string {
  const registry = settings.systemDefaultRegistry === "" ? "" : `${settings.systemDefaultRegistry}/`;
  return `apiVersion: v1
kind: ServiceAccount
metadata:
  name: local-path-provisioner-service-account
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: local-path-provisioner-role
rules:
- apiGroups: [""]
  resources: ["nodes", "persistentvolumeclaims", "configmaps", "pods/log"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["endpoints", "persistentvolumes", "pods"]
  verbs: ["*"]
- apiGroups: ["storage.k8s.io"]
  resources: ["storageclasses"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: local-path-provisioner-bind
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: local-path-provisioner-role
subjects:
- kind: ServiceAccount
  name: local-path-provisioner-service-account
  namespace: kube-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: local-path-provisioner
  namespace: kube-system
spec:
  revisionHistoryLimit: 0
  selector:
    matchLabels:
      app: local-path-provisioner
  template:
    metadata:
      labels:
        app: local-path-provisioner
    spec:
      priorityClassName: "system-node-critical"
      serviceAccountName: local-path-provisioner-service-account
      tolerations:
      - key: "CriticalAddonsOnly"
        operator: "Exists"
      - key: "node-role.kubernetes.io/control-plane"
        operator: "Exists"
        effect: "NoSchedule"
      - key: "node-role.kubernetes.io/master"
        operator: "Exists"
        effect: "NoSchedule"
      containers:
      - name: local-path-provisioner
        image: "${registry}rancher/local-path-provisioner:v0.0.31"
        imagePullPolicy: IfNotPresent
        command: ["local-path-provisioner", "start", "--config", "/etc/config/config.json"]
        volumeMounts:
        - name: config-volume
          mountPath: /etc/config/
      volumes:
      - name: config-volume
        configMap:
          name: local-path-config
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations:
    defaultVolumeType: "local"
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: local-path-config
  namespace: kube-system
data:
  config.json: |-
    {
      "nodePathMap":[
      {
        "node":"DEFAULT_PATH_FOR_NON_LISTED_NODES",
        "paths":[${JSON.stringify(settings.localStoragePath)}]
      }
      ]
    }
`;
}

/** The packaged components k3s stages into the manifests folder, by name (what `disable:` names). */
export function packagedManifests(settings: PackagedSettings): ReadonlyMap<string, string> {
  return new Map([
    ["local-storage", localStorageYaml(settings)],
    ["runtimes", runtimesYaml()],
  ]);
}

/**
 * What k3s does with its auto-deploy folder at server start: makes it
 * (every server has one) and writes each packaged component's manifest
 * (`<name>.yaml`, 0600) afresh, except the disabled ones (the deploy
 * controller then deletes their file, Addon and objects). A disabled
 * component that is not packaged (traefik, coredns, ...) is only logged.
 */
export async function stagePackagedManifests(
  dir: string,
  disabled: readonly string[],
  settings: PackagedSettings,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const component of disabled) info(`Disabling packaged component ${component}`);
  for (const [name, content] of packagedManifests(settings)) {
    if (disabled.includes(name)) continue;
    await writeFileAtomic(path.join(dir, `${name}.yaml`), content, 0o600);
  }
}
