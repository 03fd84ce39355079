// Signs and posts server events the way the Prosody module does.
import { secretKey, sign } from '../../lib/domain/signature';

let last = 0;
/** Server-style sequence: µs clock, strictly increasing. */
export function nextSeq(): number {
  last = Math.max(Date.now() * 1000, last + 1);
  return last;
}

export interface Posted {
  status: number;
  body: Record<string, unknown>;
}

export async function postRaw(url: string, body: string | Buffer, headers: Record<string, string>): Promise<Posted> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

export function signed(
  secret: string,
  body: string | Buffer,
  id?: string,
  nowSeconds?: number,
): Record<string, string> {
  return { ...sign(secretKey(secret), body, nowSeconds, id) };
}

export async function postEvents(url: string, secret: string, events: object[], id?: string): Promise<Posted> {
  const body = JSON.stringify({ v: 1, events });
  return postRaw(url, body, signed(secret, body, id));
}
