import { mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { buildClusterBundle, type ClusterBundle } from "../../server/demo/cluster-bundle.js";
import { busyboxImage } from "../../server/images/busybox.js";
import { writeImageArchive } from "../../server/images/write-archive.js";
import { ensureK3sDouble } from "./k3s-double.js";
import { FIXTURE_DEBS } from "./lab-fleet.js";

export const K3S_DOUBLE_VERSION = "v1.36.2+k3s1";

/**
 * A cluster bundle for lab tests: real Docker and registry .debs, two real
 * image archives made from busybox-static, and the k3s test double as the
 * k3s binary with one airgap image archive (a real image archive: the
 * double only logs that it imports it).
 */
export async function clusterTestBundle(work: string): Promise<ClusterBundle> {
  await mkdir(work, { recursive: true });
  const deb = (await readdir(FIXTURE_DEBS)).find((file) => file.startsWith("busybox-static_"));
  if (deb === undefined) throw new Error(`no busybox-static .deb in ${FIXTURE_DEBS}: run scripts/setup`);
  const airgap = path.join(work, "k3s-airgap-images-amd64.tar");
  await writeImageArchive(
    await busyboxImage(path.join(FIXTURE_DEBS, deb), "docker.io/rancher/mirrored-pause:3.6", "amd64"),
    "docker-save",
    airgap,
  );
  return buildClusterBundle({
    debsDir: FIXTURE_DEBS,
    out: path.join(work, "cluster.tar"),
    work,
    arch: "amd64",
    k3s: { binary: await ensureK3sDouble(), version: K3S_DOUBLE_VERSION, images: [airgap] },
  });
}
