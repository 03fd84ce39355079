// Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by "owner" (our lib/,
// a package in node_modules, or Node's internals). Usage: tsx bench/profile-summary.ts FILE [TOP]
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export function owner(url: string, fn: string): string {
  if (!url) return fn === '(garbage collector)' ? 'gc' : fn === '(idle)' || fn === '(program)' ? fn : 'native';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] as string;
  if (url.startsWith('node:'))
    return url.includes('undici')
      ? 'undici (fetch)'
      : url.includes('webstreams')
        ? 'node web streams'
        : `node:${
            url
              .slice(5)
              .replace(/^internal\//, '')
              .split('/')[0]
          }`;
  const own = /\/(lib|bench|functions)\//.exec(url);
  if (own) return `${own[1]}/`;
  return url.replace(/^.*\//, '');
}

export function summarize(
  profile: Profile,
  top = 25,
): { totalMs: number; byOwner: Array<[string, number]>; byFunction: Array<[string, number]> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const owners = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const o = owner(url, functionName);
    owners.set(o, (owners.get(o) ?? 0) + us);
    const f = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules\/)?/, '')}:${lineNumber + 1}`;
    fns.set(f, (fns.get(f) ?? 0) + us);
  }
  const ms = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => [k, Math.round(v / 1000)] as [string, number]);
  return { totalMs: Math.round(total / 1000), byOwner: ms(owners), byFunction: ms(fns) };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: tsx bench/profile-summary.ts FILE.cpuprofile [TOP]');
  const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(process.argv[3] || 25));
  console.log(`busy (non-idle) samples: ${s.totalMs} ms`);
  console.log('\nself time by owner:');
  for (const [k, v] of s.byOwner) console.log(`  ${String(v).padStart(7)} ms  ${k}`);
  console.log('\nself time by function:');
  for (const [k, v] of s.byFunction) console.log(`  ${String(v).padStart(7)} ms  ${k}`);
}
