import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          // Lab machines are real containers: allow for image builds and boots.
          testTimeout: 180_000,
          hookTimeout: 600_000,
          globalSetup: ["test/integration/global-setup.ts"],
        },
      },
      {
        // The chaos suite (`npm run chaos`, not `npm test`): faults on a lab, figures for docs/reliability.md.
        test: {
          name: "chaos",
          include: ["test/chaos/**/*.test.ts"],
          environment: "node",
          testTimeout: 420_000,
          hookTimeout: 600_000,
          globalSetup: ["test/integration/global-setup.ts"],
          // One file at a time: the figures include timings, and the box has two cores.
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
