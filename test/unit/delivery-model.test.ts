import { describe, expect, it } from "vitest";
import {
  formatFigures,
  runDeliveryModel,
  type DeliveryFigures,
  type DeliveryModelOptions,
} from "../support/delivery-model.js";

/**
 * Promise 1 of the reliability notes, as a model: every event an agent
 * emits lands in the journal exactly once, in order per host, whatever the
 * link and the processes do (test/support/delivery-model.ts). Each run
 * prints one line of figures. Any run replays exactly from its seed and
 * size through the random-seed test:
 *
 *   DELIVERY_SEED=<seed> DELIVERY_EVENTS=<per host> npx vitest run test/unit/delivery-model.test.ts -t "random seed"
 *
 * DELIVERY_TRACE=1 also prints every death, restart, refusal and report.
 */

/** The big run: 5 hosts × 1000 events. */
const MAIN_SEED = 1;
/**
 * Seeds (5 hosts × 100 events) that lost events before AgentClient retried
 * DUPLICATE_AGENT: a restarted agent was refused for good while the
 * provisioner still counted its dead connection as live (the main seed lost
 * 642 events that way).
 */
const REGRESSION_SEEDS: readonly number[] = [6, 7, 10];
const SMALL_RUN = 100;

function envNumber(name: string): number | undefined {
  const given = process.env[name];
  if (given === undefined) return undefined;
  const value = Number(given);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${name} must be a whole number, not ${given}`);
  return value;
}

const trace =
  process.env["DELIVERY_TRACE"] === undefined
    ? undefined
    : (line: string) => {
        console.log(line);
      };

async function run(seed: number, options: DeliveryModelOptions): Promise<DeliveryFigures> {
  const figures = await runDeliveryModel(seed, { ...options, ...(trace === undefined ? {} : { trace }) });
  console.log(formatFigures(figures));
  return figures;
}

function expectDelivered(figures: DeliveryFigures, eventsPerHost: number): void {
  const replay = `replay: DELIVERY_SEED=${String(figures.seed)} DELIVERY_EVENTS=${String(eventsPerHost)} npx vitest run test/unit/delivery-model.test.ts -t "random seed"`;
  const context = `seed ${String(figures.seed)} (${replay}): ${formatFigures(figures)}`;
  expect(figures.problems, context).toEqual([]);
  expect(figures.emitted, context).toBe(figures.hosts * eventsPerHost);
  expect(figures.journaled, context).toBe(figures.emitted);
  expect(figures.lost, context).toBe(0);
}

describe(
  "delivery model: a hostile link, agents and provisioner killed at random",
  { timeout: 180_000 },
  () => {
    it(`5 hosts × 1000 events, seed ${String(MAIN_SEED)}: each lands in the journal once, in order; outboxes end empty`, async () => {
      const figures = await run(MAIN_SEED, { eventsPerHost: 1000 });
      expectDelivered(figures, 1000);
      // The run really was hostile: every kind of fault happened.
      const { link } = figures;
      expect(
        [link.dropped, link.duplicated, link.reordered, link.delayed, link.replayed, figures.deduped],
        formatFigures(figures),
      ).not.toContain(0);
      expect(
        [figures.agentKills, figures.midIoKills, figures.serverKills, figures.cuts],
        formatFigures(figures),
      ).not.toContain(0);
      // Frames arriving together were committed as groups, not one transaction each.
      expect(figures.largestGroup, formatFigures(figures)).toBeGreaterThan(1);
      expect(figures.commitGroups, formatFigures(figures)).toBeLessThan(figures.journaled + figures.deduped);
    });

    it.each(REGRESSION_SEEDS)(`regression seed %i, 5 hosts × ${String(SMALL_RUN)} events`, async (seed) => {
      expectDelivered(await run(seed, { eventsPerHost: SMALL_RUN }), SMALL_RUN);
    });

    const randomSeed = envNumber("DELIVERY_SEED") ?? Math.floor(Math.random() * 2 ** 31);
    const randomEvents = envNumber("DELIVERY_EVENTS") ?? SMALL_RUN;
    it(`random seed ${String(randomSeed)}, 5 hosts × ${String(randomEvents)} events`, async () => {
      expectDelivered(await run(randomSeed, { eventsPerHost: randomEvents }), randomEvents);
    });

    it("replays exactly from its seed: same figures twice", async () => {
      const options = { hosts: 2, eventsPerHost: 40 };
      const first = await runDeliveryModel(7, options);
      const second = await runDeliveryModel(7, options);
      expectDelivered(first, options.eventsPerHost);
      expect(second).toEqual(first);
    });
  },
);
