// Part "cost" of `npm run bench` (`-- --only=cost`): scenarios (a) and (b) of issue 19, each run
// scaled down in a child process (./sim.ts) through the real handlers, then scaled to a month
// and priced (./model.ts, ./prices.ts). The template is synthesized once: alarms, dashboards,
// secrets, schedules and the functions' environment and memory come from it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluate } from '../../harness/cfn-eval';
import { type CfnTemplate, synth } from '../../harness/synth';
import { forkChild, REPO_ROOT } from '../children';
import { markdown, table, type Cell } from '../table';
import {
  type Billing,
  type Line,
  metricMonths,
  perMonthFromDaily,
  perMonthFromWindow,
  price,
  provisionedUnits,
  total,
  type Usage,
} from './model';
import { DAYS_PER_MONTH, HOURS_PER_MONTH, PRICES_DATE, PRICES_SOURCE } from './prices';
import { deploymentParameters } from './deployment';
import type { Counts, LatencyModel, SimParams, SimResult } from './sim';

export interface Scenario {
  id: 'a' | 'b';
  title: string;
  hosts: number;
  joins: number;
  eventsPerDay: number;
  lostLinksPerDay: number;
  joinsPerLink: number;
  goalUsd: number;
  /** A multiple of the 5-minute cache TTL, so each cache refreshes a whole number of times. */
  windowMinutes: number;
  /** Hosts posting in the two steady windows, extrapolated to all (sim.ts). */
  activeHosts: [number, number];
  sampleLinks: number;
  /** Warm events environments (each caches the keys and the registry on its own). */
  eventsEnvironments: number;
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'a',
    title: '(a) one server: 10,000 joins, 20,000 join/leave events a day, 50 lost links a day × 200 joins',
    hosts: 1,
    joins: 10_000,
    eventsPerDay: 20_000,
    lostLinksPerDay: 50,
    joinsPerLink: 200,
    goalUsd: 5,
    windowMinutes: 60,
    activeHosts: [1, 1],
    sampleLinks: 3,
    eventsEnvironments: 1,
  },
  {
    id: 'b',
    title:
      '(b) a provider: 100 servers (1 VirtualHost each), 1,000,000 joins, 2,000,000 events a day, 5,000 lost links a day × 200 joins',
    hosts: 100,
    joins: 1_000_000,
    eventsPerDay: 2_000_000,
    lostLinksPerDay: 5_000,
    joinsPerLink: 200,
    goalUsd: 50,
    windowMinutes: 10,
    activeHosts: [4, 12],
    sampleLinks: 4,
    eventsEnvironments: 3,
  },
];

export const LATENCY: LatencyModel = {
  dynamodbMs: 8,
  awsMs: 20,
  stanzaRequestMs: 500,
  handlerMs: 3,
  roundInitMs: 250,
};

/** Virtual minutes of steady traffic before counting starts (caches filled, joins live). */
const WARMUP_MINUTES = 2;
/** Auto-scaling's target utilization of provisioned capacity. */
export const UTILIZATION = 0.7;
/** Heartbeat interval of the module (its default). */
const HEARTBEAT_SECONDS = 60;
/** SQS event source mapping polling an idle queue: 5 pollers, 20 s long polls (an estimate: AWS publishes no figure). */
export const ESM_IDLE_RECEIVES_PER_MINUTE = 15;
/** CloudWatch Logs bills 26 bytes per log event on top of its text. */
const LOG_EVENT_OVERHEAD = 26;

/** The module's defaults, read from its source: the linger (absent: 0, posts at once) and the batch size. */
export function moduleBatching(source: string): { lingerSeconds: number; batchMaxItems: number } {
  const num = (option: string) => new RegExp(`get_option_number\\("${option}",\\s*([0-9.]+)\\)`).exec(source)?.[1];
  return {
    lingerSeconds: Number(num('ping_muc_cloud_linger') ?? 0),
    batchMaxItems: Number(num('ping_muc_cloud_batch_size') ?? 500),
  };
}

/** What the template deploys that costs by the month, with the default parameters. */
export interface Stack {
  alarmMetrics: number;
  alarms: number;
  dashboards: number;
  secrets: string[];
  /** Invocations a month of the stack's recurring schedules (the reconciler). */
  recurringInvocations: number;
  sqsEventSources: number;
  pitr: boolean;
  tableIndexes: number;
  /**
   * The stack's auto-scaling of provisioned capacity (its scalable targets with TableBilling =
   * provisioned): per table or index and Read or Write, the minimum and the target utilization.
   * Empty when the stack has no provisioned mode.
   */
  autoscaling: Array<{ dimension: string; min: number; utilization: number }>;
}

/** The scalable targets of DynamoDB capacity with TableBilling = provisioned, and their policies' target. */
function autoscalingOf(template: CfnTemplate, parameters: Record<string, string>): Stack['autoscaling'] {
  if (!template.Parameters?.TableBilling) return [];
  const ctx = {
    template,
    parameters: { ApiUrl: 'https://xmpp.example.com/api', ...parameters, TableBilling: 'provisioned' },
    region: 'us-east-1',
  };
  const on = Object.entries(template.Resources).filter(
    ([, r]) => r.Condition === undefined || evaluate(ctx, { Condition: r.Condition }) === true,
  );
  const policies = on.filter(([, r]) => r.Type === 'AWS::ApplicationAutoScaling::ScalingPolicy');
  return on
    .filter(([, r]) => r.Type === 'AWS::ApplicationAutoScaling::ScalableTarget')
    .map(([id, r]) => {
      const props = evaluate(ctx, r.Properties ?? {}) as { ScalableDimension: string; MinCapacity: number };
      const policy = policies.find(([, p]) => JSON.stringify(p.Properties?.ScalingTargetId ?? '').includes(id));
      const value = (
        policy?.[1].Properties?.TargetTrackingScalingPolicyConfiguration as { TargetValue?: number } | undefined
      )?.TargetValue;
      return {
        dimension: props.ScalableDimension,
        min: Number(props.MinCapacity),
        utilization: value ? value / 100 : UTILIZATION,
      };
    })
    .filter((t) => t.dimension.startsWith('dynamodb:'));
}

export function stackItems(template: CfnTemplate, parameters: Record<string, string> = {}): Stack {
  const ctx = { template, parameters: { ApiUrl: 'https://xmpp.example.com/api', ...parameters }, region: 'us-east-1' };
  const on = Object.entries(template.Resources).filter(
    ([, r]) => r.Condition === undefined || evaluate(ctx, { Condition: r.Condition }) === true,
  );
  const of = (type: string) => on.filter(([, r]) => r.Type === type);
  let alarmMetrics = 0;
  for (const [, r] of of('AWS::CloudWatch::Alarm')) {
    const metrics = r.Properties?.Metrics as Array<{ MetricStat?: unknown }> | undefined;
    alarmMetrics += metrics ? metrics.filter((m) => m.MetricStat).length : 1;
  }
  let recurring = 0;
  for (const [, r] of [...of('AWS::Scheduler::Schedule'), ...of('AWS::Events::Rule')]) {
    const expr = String(r.Properties?.ScheduleExpression ?? '');
    const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expr);
    if (!m) continue;
    const minutes = Number(m[1]) * (m[2]?.startsWith('hour') ? 60 : m[2]?.startsWith('day') ? 1440 : 1);
    recurring += (HOURS_PER_MONTH * 60) / minutes;
  }
  const tables = of('AWS::DynamoDB::Table');
  const tableProps = (tables[0]?.[1].Properties ?? {}) as Record<string, unknown>;
  return {
    alarmMetrics,
    alarms: of('AWS::CloudWatch::Alarm').length,
    dashboards: of('AWS::CloudWatch::Dashboard').length,
    secrets: of('AWS::SecretsManager::Secret').map(([id]) => id),
    recurringInvocations: recurring,
    sqsEventSources: of('AWS::Lambda::EventSourceMapping').filter(([, r]) =>
      JSON.stringify(r.Properties?.EventSourceArn ?? '').includes('Queue'),
    ).length,
    pitr: JSON.stringify(tableProps.PointInTimeRecoverySpecification ?? {}).includes('true'),
    tableIndexes: ((tableProps.GlobalSecondaryIndexes as unknown[] | undefined) ?? []).length,
    autoscaling: autoscalingOf(template, parameters),
  };
}

export interface ScenarioResult {
  scenario: Scenario;
  sim: SimResult;
  usage: Usage;
  /** AWS requests a month by function:service:command. */
  requests: Record<string, number>;
  lines: Record<Billing, Line[]>;
  totals: Record<Billing, { usd: number; usdFree: number }>;
  notes: string[];
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/**
 * Provisioned WCU and RCU of the table and its indexes: each scalable target at max(its
 * minimum, average units per second ÷ its target utilization); the table's writes and reads on
 * the table's targets, GSI writes shared evenly by the index write targets. Without scalable
 * targets in the stack: 1 table + its indexes at UTILIZATION, at least 1 unit each.
 */
export function provisionedCapacity(
  stack: Stack,
  used: { wru: number; gsiWru: number; rru: number },
  seconds: number,
): { wcu: number; rcu: number } {
  const targets = stack.autoscaling.length
    ? stack.autoscaling
    : [
        { dimension: 'dynamodb:table:WriteCapacityUnits', min: 1, utilization: UTILIZATION },
        { dimension: 'dynamodb:table:ReadCapacityUnits', min: 1, utilization: UTILIZATION },
        ...Array.from({ length: stack.tableIndexes }, () => [
          { dimension: 'dynamodb:index:WriteCapacityUnits', min: 1, utilization: UTILIZATION },
          { dimension: 'dynamodb:index:ReadCapacityUnits', min: 1, utilization: UTILIZATION },
        ]).flat(),
      ];
  const indexWrites = targets.filter((t) => t.dimension === 'dynamodb:index:WriteCapacityUnits').length;
  let wcu = 0;
  let rcu = 0;
  for (const t of targets) {
    const load =
      t.dimension === 'dynamodb:table:WriteCapacityUnits'
        ? used.wru
        : t.dimension === 'dynamodb:index:WriteCapacityUnits'
          ? used.gsiWru / Math.max(1, indexWrites)
          : t.dimension === 'dynamodb:table:ReadCapacityUnits'
            ? used.rru
            : 0;
    const units = provisionedUnits(load / seconds, t.utilization, t.min);
    if (t.dimension.endsWith('WriteCapacityUnits')) wcu += units;
    else rcu += units;
  }
  return { wcu, rcu };
}

/** Scales a simulation to a month and prices it. */
export function account(scenario: Scenario, sim: SimResult, stack: Stack): ScenarioResult {
  const window = sim.windowMinutes / 60;
  const links = (n: number) => perMonthFromDaily(n / sim.sampleLinks, scenario.lostLinksPerDay);
  const month = (key: (c: Counts) => number) => perMonthFromWindow(key(sim.steady), window) + links(key(sim.links));
  const fns = [...new Set([...Object.keys(sim.steady.invocations), ...Object.keys(sim.links.invocations)])].sort();
  const lambda = fns.map((fn) => ({
    fn,
    requests: month((c) => c.invocations[fn] ?? 0),
    gbSeconds: (month((c) => c.billedMs[fn] ?? 0) / 1000) * ((sim.memoryMb[fn] ?? 128) / 1024),
  }));
  const requests: Record<string, number> = {};
  for (const key of new Set([...Object.keys(sim.steady.calls), ...Object.keys(sim.links.calls)])) {
    let n = month((c) => c.calls[key] ?? 0);
    // Each warm events environment refreshes its own caches (keys, registry).
    if (/^events:(SecretsManager|SSM):/.test(key)) n *= scenario.eventsEnvironments;
    requests[key] = n;
  }
  const byService = (service: string) =>
    Object.entries(requests)
      .filter(([k]) => k.split(':')[1] === service)
      .reduce((n, [, v]) => n + v, 0);
  const sqsDelivered = month((c) => c.sqsDelivered);
  const esmIdle = stack.sqsEventSources * ESM_IDLE_RECEIVES_PER_MINUTE * HOURS_PER_MONTH * 60;
  const secretCalls = byService('SecretsManager');
  const ssmCalls = byService('SSM');
  const rru = month((c) => c.rru);
  const wru = month((c) => c.wru);
  const gsiWru = month((c) => c.gsiWru);
  const seconds = HOURS_PER_MONTH * 3600;
  const provisioned = provisionedCapacity(stack, { wru, gsiWru, rru }, seconds);
  const storageGb =
    (scenario.joins * sim.bytesPerJoin + sim.shortLived.bytesPerHour * sim.shortLived.lifetimeHours) / 1024 ** 3;
  // Metric-hours: each metric's rate of documents per hour, per host for a metric with a host dimension.
  const rates = new Map<string, { ratePerHour: number; copies: number }>();
  const addRates = (c: Counts, perHour: (documents: number, perHost: boolean) => number) => {
    for (const [id, m] of Object.entries(c.metrics)) {
      const e = rates.get(id) ?? { ratePerHour: 0, copies: m.perHost ? scenario.hosts : 1 };
      e.ratePerHour += perHour(m.documents, m.perHost);
      rates.set(id, e);
    }
  };
  addRates(sim.steady, (d, perHost) => d / window / (perHost ? scenario.hosts : 1));
  addRates(
    sim.links,
    (d, perHost) => ((d / sim.sampleLinks) * scenario.lostLinksPerDay) / 24 / (perHost ? scenario.hosts : 1),
  );
  const templateSecretIds = new Set(stack.secrets);
  const external = [...new Set([...sim.steady.secretIds, ...sim.links.secretIds])].filter(
    (id) => ![...templateSecretIds].some((t) => id.includes(`:secret:${t}-`)),
  );
  const externalSecrets = external.reduce((n, id) => n + (id.includes('<host>') ? scenario.hosts : 1), 0);
  const ssmBytes = Math.max(0, ...sim.ssmParameterBytes);
  const ssmUsed = ssmCalls > 0;
  const advanced = ssmUsed && ssmBytes > 4096;
  const usage: Usage = {
    lambda,
    dynamodb: {
      rru,
      wru,
      gsiWru,
      storageGb,
      pitr: stack.pitr,
      provisioned,
    },
    sqsRequests: byService('SQS') + 2 * sqsDelivered + esmIdle,
    schedulerInvocations: month((c) => c.schedulesFired) + stack.recurringInvocations,
    logsGb: (month((c) => sum(c.logBytes)) + month((c) => sum(c.logLines)) * LOG_EVENT_OVERHEAD) / 1024 ** 3,
    logRetentionDays: sim.logRetentionDays,
    metricMonths: metricMonths([...rates.values()]),
    alarmMetrics: stack.alarmMetrics,
    dashboards: stack.dashboards,
    secrets: stack.secrets.length + externalSecrets,
    secretCalls,
    ssmAdvancedParameters: advanced ? 1 : 0,
    ssmAdvancedCalls: advanced ? ssmCalls : 0,
  };
  const notes: string[] = [];
  if (ssmUsed && ssmBytes > 8192)
    notes.push(
      `the host registry parameter is ${ssmBytes.toLocaleString('en')} bytes: more than an SSM parameter holds (8 KB advanced), so this scenario does not fit in one deployment as configured`,
    );
  if (sim.steady.handlerErrors + sim.links.handlerErrors > 0)
    notes.push(`${sim.steady.handlerErrors + sim.links.handlerErrors} handler invocations failed during the run`);
  const lines = { 'on-demand': price(usage, 'on-demand'), provisioned: price(usage, 'provisioned') };
  return {
    scenario,
    sim,
    usage,
    requests,
    lines,
    totals: { 'on-demand': total(lines['on-demand']), provisioned: total(lines.provisioned) },
    notes,
  };
}

export interface CostResult {
  pricesDate: string;
  pricesSource: string;
  latency: LatencyModel;
  lingerSeconds: number;
  batchMaxItems: number;
  stack: Stack;
  scenarios: ScenarioResult[];
}

export async function costPart(log: (s: string) => void, only?: Array<'a' | 'b'>): Promise<CostResult> {
  log('cost: synthesizing the template');
  const s = synth();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ping-muc-cost-'));
  const templateFile = path.join(dir, 'template.json');
  writeFileSync(templateFile, JSON.stringify(s.json));
  s.cleanup();
  const stack = stackItems(s.json);
  const moduleSource = readFileSync(
    path.join(REPO_ROOT, 'prosody', 'mod_ping_muc_cloud', 'mod_ping_muc_cloud.lua'),
    'utf8',
  );
  const { lingerSeconds, batchMaxItems } = moduleBatching(moduleSource);
  const scenarios: ScenarioResult[] = [];
  try {
    for (const scenario of SCENARIOS.filter((x) => !only || only.includes(x.id))) {
      const hosts =
        scenario.hosts === 1
          ? ['xmpp.example.com']
          : Array.from({ length: scenario.hosts }, (_, i) => `h${String(i + 1).padStart(3, '0')}.provider.example`);
      const params: SimParams = {
        name: scenario.id,
        hosts,
        eventsPerDay: scenario.eventsPerDay,
        heartbeatSeconds: HEARTBEAT_SECONDS,
        lingerSeconds,
        batchMaxItems,
        joinsPerLink: scenario.joinsPerLink,
        windowMinutes: scenario.windowMinutes,
        activeHosts: scenario.activeHosts,
        warmupMinutes: WARMUP_MINUTES,
        sampleLinks: scenario.sampleLinks,
        storageJoins: 200,
        templateFile,
        latency: LATENCY,
      };
      log(`cost: scenario (${scenario.id}) in a child process`);
      const child = forkChild<SimResult>(path.join(REPO_ROOT, 'bench', 'cost', 'sim.ts'), params);
      const sim = await child.ready;
      await child.exited;
      const stackHere = stackItems(s.json, deploymentParameters(hosts));
      scenarios.push(account(scenario, sim, stackHere));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    pricesDate: PRICES_DATE,
    pricesSource: PRICES_SOURCE,
    latency: LATENCY,
    lingerSeconds,
    batchMaxItems,
    stack,
    scenarios,
  };
}

/** Issue 19's goals, at list prices, with the cheaper DynamoDB billing mode. */
export function costTargets(r: CostResult): Array<{ target: string; measured: string; met: boolean }> {
  return r.scenarios.map((s) => {
    const od = s.totals['on-demand'].usd;
    const pv = s.totals.provisioned.usd;
    return {
      target: `cost (${s.scenario.id}) ≤ $${s.scenario.goalUsd} a month at list prices`,
      measured: `$${od.toFixed(2)} on demand, $${pv.toFixed(2)} provisioned${s.notes.length ? ' (see notes)' : ''}`,
      met: Math.min(od, pv) <= s.scenario.goalUsd && !s.notes.some((n) => /does not fit/.test(n)),
    };
  });
}

const usd = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 0.005 ? n.toFixed(2) : n === 0 ? '0' : '< 0.01');
const qty = (n: number) =>
  n >= 1000 ? Math.round(n).toLocaleString('en') : n >= 10 ? n.toFixed(0) : n >= 0.01 ? n.toFixed(2) : n.toPrecision(2);

/** The tables and assumptions, as text or Markdown. */
export function renderCost(r: CostResult, md: boolean): string {
  const tab = md ? markdown : table;
  const out: string[] = [];
  out.push(`Prices: list prices as of ${r.pricesDate}, ${r.pricesSource}.`);
  for (const s of r.scenarios) {
    const od = s.totals['on-demand'];
    const pv = s.totals.provisioned;
    out.push(md ? `\n#### ${s.scenario.title}\n` : `\n== cost ${s.scenario.title} ==`);
    const rows: Cell[][] = s.lines['on-demand']
      .filter((l) => l.usd > 0 || !/SSM/.test(l.item))
      .map((l) => [l.item, l.quantity, usd(l.usd), usd(l.usdFree)]);
    rows.push(['**Total, DynamoDB on demand**', '', `**${usd(od.usd)}**`, `**${usd(od.usdFree)}**`]);
    for (const l of s.lines.provisioned.filter((x) => /provisioned/.test(x.item)))
      rows.push([`${l.item} (instead of on-demand reads and writes)`, l.quantity, usd(l.usd), usd(l.usdFree)]);
    rows.push(['**Total, DynamoDB provisioned + auto-scaling**', '', `**${usd(pv.usd)}**`, `**${usd(pv.usdFree)}**`]);
    rows.push([
      `Goal: ≤ $${s.scenario.goalUsd} a month at list prices`,
      '',
      Math.min(od.usd, pv.usd) <= s.scenario.goalUsd ? 'met' : 'not met',
      '',
    ]);
    out.push(tab(['item', 'quantity / month', '$ / month, list', '$ / month, with free tiers'], rows));
    const sim = s.sim;
    const requests = Object.entries(s.requests)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]): Cell[] => [k.split(':')[0] as string, `${k.split(':')[1]} ${k.split(':')[2]}`, qty(v)]);
    out.push(md ? '\nAWS requests a month (SDK calls made by the code):\n' : '\nAWS requests a month:');
    out.push(tab(['function', 'request', 'per month'], requests));
    const perReq = (c: Counts, k: string) => (c.requestsSent > 0 ? (c.calls[k] ?? 0) / c.requestsSent : 0);
    const dyn = Object.keys(sim.steady.calls).filter((k) => k.startsWith('events:DynamoDB'));
    const billedEvents = (sim.steady.billedMs.events ?? 0) / Math.max(1, sim.steady.invocations.events ?? 0);
    const roundInv = (sim.links.invocations.round ?? 0) / sim.sampleLinks;
    const roundMs = (sim.links.billedMs.round ?? 0) / sim.sampleLinks;
    const roundSlept = (sim.links.sleptMs.round ?? 0) / sim.sampleLinks;
    out.push(
      `\nMeasured: ${sim.eventsPerRequestSimulated.toFixed(2)} events per events request (model ${sim.eventsPerRequestModel.toFixed(2)}); ` +
        `per events request ${dyn.map((k) => `${perReq(sim.steady, k).toFixed(2)} ${k.split(':')[2]}`).join(', ')}, ` +
        `${(sim.steady.rru / Math.max(1, sim.steady.requestsSent)).toFixed(2)} RRU, ${(sim.steady.wru / Math.max(1, sim.steady.requestsSent)).toFixed(2)} WRU + ${(sim.steady.gsiWru / Math.max(1, sim.steady.requestsSent)).toFixed(2)} GSI WRU, ${billedEvents.toFixed(0)} ms billed; ` +
        `per lost link (2 closes, 1 up, its round): ${roundInv.toFixed(1)} round invocations, ${(roundMs / 1000).toFixed(1)} s billed of which ${(roundSlept / 1000).toFixed(1)} s asleep, ` +
        `${(sim.links.rru / sim.sampleLinks).toFixed(0)} RRU, ${(sim.links.wru / sim.sampleLinks).toFixed(0)} WRU + ${(sim.links.gsiWru / sim.sampleLinks).toFixed(0)} GSI WRU, ` +
        `${(sim.links.stanzaRequests / sim.sampleLinks).toFixed(1)} stanza API requests; ` +
        `${Math.round(sim.bytesPerJoin)} stored bytes per live join (indexes: ${sim.tableIndexes.join(', ') || 'none'}); ` +
        `${s.usage.metricMonths.toFixed(1)} metric-months from ${Object.keys(sim.steady.metrics).length + Object.keys(sim.links.metrics).length} metric series seen.`,
    );
    for (const n of s.notes) out.push(`\nNote: ${n}.`);
  }
  out.push(md ? '\n#### Assumptions\n' : '\n== cost assumptions ==');
  out.push(
    assumptions(r)
      .map((a) => `- ${a}`)
      .join('\n'),
  );
  return out.join('\n');
}

export function assumptions(r: CostResult): string[] {
  const l = r.latency;
  return [
    `Month: ${HOURS_PER_MONTH} h (${DAYS_PER_MONTH.toFixed(2)} days). Steady traffic is simulated for ${r.scenarios.map((s) => `${s.scenario.windowMinutes} min (${s.scenario.id})`).join(', ')} of virtual time after a ${WARMUP_MINUTES}-minute warm-up and scaled by ${HOURS_PER_MONTH} h ÷ the window; with many hosts, two windows with ${r.scenarios
      .filter((s) => s.scenario.activeHosts[0] !== s.scenario.activeHosts[1])
      .map((s) => `${s.scenario.activeHosts.join(' and ')} of ${s.scenario.hosts} hosts posting (${s.scenario.id})`)
      .join(
        ', ',
      )} are counted and every count extrapolated linearly to all hosts (a + b·hosts: what the stack does whatever its hosts, plus what each host adds; all hosts are in the registry throughout); lost links are run one by one (${r.scenarios.map((s) => `${s.scenario.sampleLinks} (${s.scenario.id})`).join(', ')}) and scaled by lost links a day × ${DAYS_PER_MONTH.toFixed(2)}.`,
    'Traffic: join/leave events half joins, half leaves, at uniform random times; a heartbeat every 60 s per host; each lost link is 2 s2s-close requests (in and out, posted at once), 1 s2s-up when the round brings the link up, and a round over its 200 joins (80 % still joined, 10 % ghosts the server heals with a notification, 10 % sessions gone). No session-end, host-start or resync traffic.',
    `Module batching: events per request n = min(batch max, 1 + λ·L), λ = a host's events per second (join/leave + heartbeats), L = the module's linger (${r.lingerSeconds} s, read from mod_ping_muc_cloud.lua; 0 = post at once), batch max ${r.batchMaxItems}; the simulation batches each host's arrivals that way.`,
    `Lambda GB-s = memory (from the template) × billed time; billed time = the invocation's virtual time: ${l.dynamodbMs} ms per DynamoDB request and ${l.awsMs} ms per other AWS request on its critical path (parallel requests overlap), ${l.stanzaRequestMs} ms per stanza API request (one after the other), ${l.handlerMs} ms of handler work, every sleep of the code on its clock, and ${l.roundInitMs} ms of INIT for an invocation that starts a round (rounds are assumed cold). Events function environments are assumed warm (no INIT).`,
    "DynamoDB: reads as dynalite reports them (ReturnConsumedCapacity); writes by DynamoDB's rule from the item before and after each write (1 WRU per KB of the larger), a failed conditional write billed as the write, and a GSI write per index an item enters, leaves or changes in (two when its index key changes); dynalite reports neither of the last two.",
    `DynamoDB provisioned: auto-scaling at the stack's target utilization (${Math.round(UTILIZATION * 100)} % when it has none) on a flat load, so capacity of each scalable target = max(its minimum, average units per second ÷ its target utilization) (${r.stack.autoscaling.length ? `the stack's targets: ${r.stack.autoscaling.map((t) => `${t.dimension.replace('dynamodb:', '').replace('CapacityUnits', '')} min ${t.min}`).join(', ')}` : 'no provisioned mode in the stack: the table and each index at least 1'}; GSI writes shared evenly by the indexes, reads of indexes at their minimum); bursts above it use burst capacity or are throttled until it scales. The free tier's 25 WCU and 25 RCU apply to provisioned capacity only.`,
    'Storage: live joins × the stored bytes of one (measured: table and index copies, 100 B overhead each) + short-lived items (TTL within 3 days) at their write rate × (TTL + 48 h of TTL deletion lag). PITR on the same size.',
    `Logs: every line the functions write (JSON logs and EMF) + ${LOG_EVENT_OVERHEAD} B per log event; Lambda's platform lines are off (system log level WARN). Stored for the retention (${r.scenarios[0]?.sim.logRetentionDays ?? 30} days) at the ingested size (an upper bound: stored logs are compressed).`,
    'Custom metrics: every EMF metric (namespace, name, dimension set and values) seen; one published r times an hour (Poisson) is billed for 1 − e^(−r) of the hours; a metric whose dimension value is a host counts once per host.',
    "Alarms, dashboards, secrets, the reconciler's schedule and SQS event sources from the synthesized template with default parameters; alarm metrics count each metric of a math alarm. Secrets: the template's plus every other secret the code read (once per host when named by host).",
    `Secrets Manager and SSM calls of the events function × warm events environments (${r.scenarios.map((s) => `${s.scenario.eventsEnvironments} in (${s.scenario.id})`).join(', ')}): each caches keys and registry on its own. KMS requests of Secrets Manager's AWS-managed key are left out.`,
    `SQS: the code's requests + a receive and a delete per message the round function consumes + ${ESM_IDLE_RECEIVES_PER_MINUTE} receives a minute per SQS event source while idle (an estimate). EventBridge Scheduler: one invocation per schedule created + the recurring schedules. Data transfer and SNS email (a few alarm mails) are left out.`,
  ];
}
