// Part 4 (placeholder until written): end to end on the real testbed.
export async function e2ePart(_m: number, log: (s: string) => void): Promise<{ rows: unknown; rendered(md: boolean): string }> {
  log('e2e: not yet measured');
  return { rows: { measured: false }, rendered: () => 'not yet measured' };
}
