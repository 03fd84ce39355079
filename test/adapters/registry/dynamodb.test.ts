// The host registry in the table, on dynalite: 1,000 hosts on 200 servers load whole (paged) and
// resolve to their API URL and their server's derived keys; a bad item is refused alone; the CLI
// keeps every version and refuses a write that lost a race; host-keys prints a server's lines.
import { type DynamoDBClient, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable } from '../../../lib/adapters/dynamodb/table';
import { RegistryConflictError, RegistryTable } from '../../../lib/adapters/registry/dynamodb';
import { MasterKeys } from '../../../lib/adapters/registry/keys';
import { ListedHosts, Registry } from '../../../lib/adapters/registry/registry';
import { keyText, serverKeys, parseMasterKey } from '../../../lib/domain/keys';
import { runHostKeys } from '../../../scripts/host-keys';
import { runRegistry } from '../../../scripts/registry';
import { type RunningDynalite, startDynalite } from '../../support/dynalite';

const MASTER = JSON.stringify({ current: 'ping-muc test master key 0123456789' });
const SERVERS = 200;
const HOSTS_PER_SERVER = 5;
const server = (i: number) => ({
  id: `s${String(i).padStart(3, '0')}`,
  hosts: Array.from({ length: HOSTS_PER_SERVER }, (_, h) => `h${h}.s${i}.example`),
  apiUrl: `https://xmpp${i}.example:5281/ping_muc_cloud/stanza`,
});

let db: RunningDynalite;
let n = 0;
/** A table of its own per test. */
async function table(pageLimit?: number): Promise<{ name: string; registry: RegistryTable }> {
  const name = `registry-${++n}`;
  await ensureTable(db.client, name);
  return { name, registry: new RegistryTable({ client: db.client, table: name, pageLimit }) };
}

beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db.close();
});

describe('the registry in the table', () => {
  it('resolves 1,000 hosts on 200 servers read in pages to their API URL with their server’s keys', async () => {
    const { name, registry: writer } = await table();
    for (let i = 0; i < SERVERS; i++) await writer.put(server(i));
    let pages = 0;
    const counting = {
      send: (command: QueryCommand) => {
        if (command instanceof QueryCommand) pages++;
        return db.client.send(command);
      },
    } as unknown as DynamoDBClient;
    const registry = new RegistryTable({ client: counting, table: name, pageLimit: 50 });
    let queries = 0;
    const source = registry.source();
    const listed = new ListedHosts({
      source: async () => {
        queries++;
        return source();
      },
      name: 't',
      ttlMs: 300_000,
    });
    const keys = new MasterKeys({ source: async () => MASTER, name: 'k', ttlMs: 300_000 });
    const hosts = new Registry(keys, listed);
    const started = performance.now();
    const all = await listed.hosts();
    const loadMs = performance.now() - started;
    expect(all.size).toBe(SERVERS * HOSTS_PER_SERVER);
    for (let i = 0; i < SERVERS; i++) {
      for (let h = 0; h < HOSTS_PER_SERVER; h++) {
        const host = `h${h}.s${i}.example`;
        const api = await hosts.api(host);
        expect(api?.url).toBe(server(i).apiUrl);
        expect(api?.keys).toEqual(serverKeys(parseMasterKey(MASTER), 'stanza-api', server(i).id));
        expect(await hosts.webhookKeys(host)).toEqual(serverKeys(parseMasterKey(MASTER), 'webhook', server(i).id));
      }
    }
    expect(queries).toBe(1); // one read for all 2,000 lookups (cached)
    // 200 items in pages of 50: four pages and one that finds the end.
    expect(pages).toBeGreaterThanOrEqual(4);
    expect(pages).toBeLessThanOrEqual(5);
    console.log(`registry: ${SERVERS} servers, ${all.size} hosts loaded in ${loadMs.toFixed(0)} ms (pages of 50)`);
  });

  it('refuses a bad item with a clear error while serving the rest', async () => {
    const { name, registry } = await table();
    await registry.put(server(1));
    await registry.put(server(2));
    // Written around the CLI: a key where none belongs, and a URL that is none.
    await db.client.send(
      new PutItemCommand({
        TableName: name,
        Item: marshall({ pk: 'REG', sk: 's003', ...server(3), apiSecret: 'whsec_x' }),
      }),
    );
    await db.client.send(
      new PutItemCommand({
        TableName: name,
        Item: marshall({ pk: 'REG', sk: 's004', ...server(4), apiUrl: 'ftp://x' }),
      }),
    );
    const read = await registry.read();
    expect(read.servers.map((s) => s.id)).toEqual(['s001', 's002']);
    expect(read.refused).toEqual([
      {
        id: 's003',
        error: expect.stringMatching(/server s003: unknown fields apiSecret \(the registry holds no keys/),
      },
      { id: 's004', error: 'server s004: apiUrl must be an http(s) URL' },
    ]);
  });

  it('keeps every version of a server in its history', async () => {
    const { registry } = await table();
    const v1 = await registry.put(server(1));
    const v2 = await registry.put({ ...server(1), apiUrl: 'https://moved.example/stanza' });
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect((await registry.get('s001'))?.apiUrl).toBe('https://moved.example/stanza');
    const back = await registry.rollback('s001', 1);
    expect(back).toMatchObject({ version: 3, apiUrl: server(1).apiUrl });
    expect((await registry.history('s001')).map((s) => [s.version, s.apiUrl])).toEqual([
      [1, server(1).apiUrl],
      [2, 'https://moved.example/stanza'],
      [3, server(1).apiUrl],
    ]);
    const removed = await registry.remove('s001');
    expect(removed).toMatchObject({ version: 4, removed: true });
    expect(await registry.get('s001')).toBeUndefined();
    expect((await registry.read()).servers).toEqual([]);
    expect((await registry.rollback('s001', 3)).version).toBe(5);
    expect((await registry.get('s001'))?.hosts).toEqual(server(1).hosts);
  });

  it('refuses a write that conflicts with another server or writer', async () => {
    const { registry } = await table();
    await registry.put(server(1));
    await expect(registry.put(server(1), 0)).rejects.toThrow(RegistryConflictError);
    await expect(registry.put(server(1), 0)).rejects.toThrow(/at version 1, not 0/);
    expect((await registry.put(server(1), 1)).version).toBe(2);
    // Two writers that both read version 2: one wins, the other is refused.
    const results = await Promise.allSettled([registry.put(server(1)), registry.put(server(1))]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(RegistryConflictError);
    await expect(registry.put({ ...server(2), hosts: [server(1).hosts[0]] })).rejects.toThrow(
      /server s002: host h0.s1.example is listed by server s001 too/,
    );
  });

  it('is driven by npm run registry', async () => {
    const { registry } = await table();
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'ping-muc-reg-')), 'server.json');
    writeFileSync(file, JSON.stringify(server(7)));
    const [put] = await runRegistry(['put', file], registry);
    expect(JSON.parse(put as string)).toMatchObject({ id: 's007', version: 1 });
    expect((await runRegistry(['list'], registry)).map((l) => JSON.parse(l).id)).toEqual(['s007']);
    expect(JSON.parse((await runRegistry(['get', 's007'], registry))[0] as string).hosts).toHaveLength(5);
    await runRegistry(['put', file, '--if-version', '1'], registry);
    expect(await runRegistry(['history', 's007'], registry)).toHaveLength(2);
    expect(JSON.parse((await runRegistry(['rollback', 's007', '1'], registry))[0] as string).version).toBe(3);
    await expect(runRegistry(['frobnicate'], registry)).rejects.toThrow(/usage: npm run registry/);
  });

  it('prints a server’s keys with npm run host-keys naming its hosts from the table', async () => {
    const { name, registry } = await table();
    await registry.put(server(3));
    const previous = process.env.PING_MUC_MASTER_KEY;
    process.env.PING_MUC_MASTER_KEY = MASTER;
    try {
      const byId = await runHostKeys(['--table', name, 's003'], registry);
      const webhook = keyText(serverKeys(parseMasterKey(MASTER), 'webhook', 's003')[0] as Buffer);
      expect(byId.split('\n')[0]).toBe(`-- server s003: the keys of its VirtualHosts ${server(3).hosts.join(', ')}`);
      expect(byId).toContain(`ping_muc_cloud_webhook_secret = "${webhook}"`);
      expect(await runHostKeys(['--table', name, 'h2.s3.example'], registry)).toBe(byId);
      await expect(runHostKeys(['--table', name, 's004'], registry)).rejects.toThrow(/neither a server id nor a host/);
    } finally {
      if (previous === undefined) delete process.env.PING_MUC_MASTER_KEY;
      else process.env.PING_MUC_MASTER_KEY = previous;
    }
  });
});
