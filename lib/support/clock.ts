// The one clock of ping-muc: injected everywhere time is read or waited for, so that tests can
// drive rounds, leases and schedules without sleeping.
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

export const seconds = (ms: number): number => Math.floor(ms / 1000);
