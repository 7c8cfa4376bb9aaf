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
    ],
  },
});
