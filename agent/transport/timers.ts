/** A scheduled callback that can be called off. */
export interface Timer {
  cancel(): void;
}

/** Schedules `callback` once after `ms`. Injected so tests control time; the default is setTimeout. */
export type Schedule = (callback: () => void, ms: number) => Timer;

export const realSchedule: Schedule = (callback, ms) => {
  const handle = setTimeout(callback, ms);
  return {
    cancel: () => {
      clearTimeout(handle);
    },
  };
};
