import { costPart, renderCost } from './part';
const only = (process.argv[2] ?? 'a').split(',') as Array<'a' | 'b'>;
const r = await costPart((s) => process.stderr.write(`${s}\n`), only);
console.log(renderCost(r, false));
for (const s of r.scenarios) {
  console.log(JSON.stringify(s.sim.steady.metrics));
  console.log(JSON.stringify(s.sim.links.metrics));
  console.log(JSON.stringify(s.sim.links.calls));
}
process.exit(0);
