// The host registry in the stack's table (docs/hosts.md, docs/data-model.md): one item per server
// (pk = REG, sk = <server id>: its hosts and stanza API URL, no secrets) and every version it
// had (pk = REG#<server id>, sk = <version>, zero-padded). The functions read the REG partition
// whole (Query, paged); the registry CLI (scripts/registry.ts) writes through RegistryTable.
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  DeleteItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { hostTable, parseServer, RegistryError, type ServerRecord } from '../../domain/hosts';
import type { RegistryRead, RegistrySource } from '../../ports';
import { KEYS } from '../dynamodb/table';

export const REGISTRY_PK = 'REG';
const historyPk = (id: string) => `${REGISTRY_PK}#${id}`;
const versionSk = (version: number) => String(version).padStart(10, '0');

/** A server's record with its version and when it was written. */
export interface StoredServer extends ServerRecord {
  version: number;
  /** ms since the epoch. */
  writtenAt: number;
  /** This version removed the server (history only; hosts are what it had). */
  removed?: boolean;
}

/** Someone else wrote the server meanwhile: read it again and retry. */
export class RegistryConflictError extends RegistryError {
  override name = 'RegistryConflictError';
}

export interface RegistryTableOptions {
  client: DynamoDBClient;
  table: string;
  /** Items per Query page (default: DynamoDB's 1 MB pages). */
  pageLimit?: number;
  now?: () => number;
}

type Raw = Record<string, unknown>;

const record = (item: Raw): Raw => ({ id: item.id, hosts: item.hosts, apiUrl: item.apiUrl });

/** The item's server fields: everything but its key and version, so a field that has no place there is refused. */
function asWritten(item: Raw): Raw {
  const { [KEYS.pk]: _pk, [KEYS.sk]: _sk, version: _v, writtenAt: _at, ...fields } = item;
  return fields;
}

function stored(item: Raw): StoredServer {
  const out: StoredServer = {
    ...parseServer(record(item)),
    version: Number(item.version),
    writtenAt: Number(item.writtenAt),
  };
  if (item.removed) out.removed = true;
  return out;
}

export class RegistryTable {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly now: () => number;

  constructor(private readonly options: RegistryTableOptions) {
    this.client = options.client;
    this.table = options.table;
    this.now = options.now ?? Date.now;
  }

  private async query(pk: string, newestFirst = false, limit?: number): Promise<Raw[]> {
    const items: Raw[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': KEYS.pk },
          ExpressionAttributeValues: { ':pk': { S: pk } },
          ScanIndexForward: !newestFirst,
          Limit: limit ?? this.options.pageLimit,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) items.push(unmarshall(item));
      start = limit === undefined ? out.LastEvaluatedKey : undefined;
    } while (start);
    return items;
  }

  /** The whole registry, each item checked on its own: a bad one is refused, the rest are served. */
  async read(): Promise<RegistryRead> {
    const read: RegistryRead = { servers: [], refused: [] };
    for (const item of await this.query(REGISTRY_PK)) {
      const id = String(item[KEYS.sk]);
      try {
        const server = parseServer(asWritten(item), `item ${REGISTRY_PK}/${id}`);
        if (server.id !== id) throw new RegistryError(`item ${REGISTRY_PK}/${id}: id is ${server.id}, not its key`);
        read.servers.push(server);
      } catch (err) {
        if (!(err instanceof RegistryError)) throw err;
        read.refused.push({ id, error: err.message });
      }
    }
    return read;
  }

  source(): RegistrySource {
    return () => this.read();
  }

  async get(id: string): Promise<StoredServer | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: marshall({ [KEYS.pk]: REGISTRY_PK, [KEYS.sk]: id }),
        ConsistentRead: true,
      }),
    );
    return out.Item && stored(unmarshall(out.Item));
  }

  async list(): Promise<StoredServer[]> {
    return (await this.query(REGISTRY_PK)).map(stored);
  }

  /** Every version of the server, oldest first. */
  async history(id: string): Promise<StoredServer[]> {
    return (await this.query(historyPk(id))).map(stored);
  }

  async version(id: string, version: number): Promise<StoredServer | undefined> {
    const out = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: marshall({ [KEYS.pk]: historyPk(id), [KEYS.sk]: versionSk(version) }),
        ConsistentRead: true,
      }),
    );
    return out.Item && stored(unmarshall(out.Item));
  }

  private async latestVersion(id: string): Promise<number> {
    const [last] = await this.query(historyPk(id), true, 1);
    return last ? Number(last.version) : 0;
  }

  /**
   * Writes `raw` (checked) as the server's next version and returns it. `ifVersion`: only if the
   * server's latest version is that one (0: a new server). A host another server lists is refused.
   * Two writers racing for one version: one wins, the other gets RegistryConflictError.
   */
  async put(raw: unknown, ifVersion?: number): Promise<StoredServer> {
    const server = parseServer(raw);
    const others = (await this.read()).servers.filter((s) => s.id !== server.id);
    hostTable([...others, server], (id, error) => {
      if (id === server.id) throw new RegistryError(`server ${server.id}: ${error}`);
    });
    return this.write(server, ifVersion);
  }

  /** Removes the server (a version of its history records it). */
  async remove(id: string, ifVersion?: number): Promise<StoredServer> {
    const current = await this.get(id);
    if (!current) throw new RegistryError(`server ${id} is not in the registry`);
    return this.write({ id, hosts: current.hosts, apiUrl: current.apiUrl }, ifVersion, true);
  }

  /** Writes version `version`'s record again, as the next version. */
  async rollback(id: string, version: number, ifVersion?: number): Promise<StoredServer> {
    const old = await this.version(id, version);
    if (!old) throw new RegistryError(`server ${id} has no version ${version}`);
    if (old.removed) return this.remove(id, ifVersion);
    return this.put({ id, hosts: old.hosts, apiUrl: old.apiUrl }, ifVersion);
  }

  /**
   * The history item claims the version (it must not exist: that is the concurrency check), then
   * the current item follows unless a newer version got there first. A writer stopped between the
   * two leaves history ahead of the current item; the next write goes on from the history.
   */
  private async write(server: ServerRecord, ifVersion: number | undefined, removed = false): Promise<StoredServer> {
    const latest = await this.latestVersion(server.id);
    if (ifVersion !== undefined && ifVersion !== latest) {
      throw new RegistryConflictError(`server ${server.id} is at version ${latest}, not ${ifVersion}`);
    }
    const version = latest + 1;
    const body = { ...server, version, writtenAt: this.now(), ...(removed && { removed: true }) };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: marshall({ [KEYS.pk]: historyPk(server.id), [KEYS.sk]: versionSk(version), ...body }),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': KEYS.pk },
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        throw new RegistryConflictError(`server ${server.id}: version ${version} was written meanwhile, try again`);
      }
      throw err;
    }
    const key = { [KEYS.pk]: REGISTRY_PK, [KEYS.sk]: server.id };
    const newer = {
      ConditionExpression: 'attribute_not_exists(#pk) OR #v < :v',
      ExpressionAttributeNames: { '#pk': KEYS.pk, '#v': 'version' },
      ExpressionAttributeValues: { ':v': { N: String(version) } },
    };
    try {
      if (removed)
        await this.client.send(new DeleteItemCommand({ TableName: this.table, Key: marshall(key), ...newer }));
      else
        await this.client.send(
          new PutItemCommand({ TableName: this.table, Item: marshall({ ...key, ...body }), ...newer }),
        );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      throw new RegistryConflictError(`server ${server.id}: a version after ${version} was written meanwhile`);
    }
    return body;
  }
}
