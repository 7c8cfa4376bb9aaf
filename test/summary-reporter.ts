import type { Reporter, RunnerTask, RunnerTestFile } from "vitest/node";

/**
 * Prints one plain closing line, "tests: N passed, N failed, N skipped", that
 * any CI log reader understands, after vitest's own report. Test files that
 * failed to load count as failed.
 */
export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = [], errors: unknown[] = []): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const visit = (task: RunnerTask): void => {
      if (task.type === "suite") {
        task.tasks.forEach(visit);
        if (task.result?.state === "fail" && task.tasks.length === 0) counts.failed += 1;
        return;
      }
      const state = task.result?.state;
      if (state === "pass") counts.passed += 1;
      else if (state === "fail") counts.failed += 1;
      else counts.skipped += 1;
    };
    files.forEach(visit);
    counts.failed += errors.length;
    process.stdout.write(
      `\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`,
    );
  }
}
