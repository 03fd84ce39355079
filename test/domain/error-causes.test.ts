// A domain error made from another keeps it as its `cause` (ES2022), so the original's facts
// (its class, its own message) reach the log and the caller, not only a copy of its text.
import { describe, expect, it } from 'vitest';
import { EventError, parseBatch, parseEvent } from '../../lib/domain/events';
import { parseRegistryFile, parseServer, RegistryError } from '../../lib/domain/hosts';
import { JidError, parseJid } from '../../lib/domain/jid';
import { MasterKeyError, parseMasterKey } from '../../lib/domain/keys';
import { SignatureError } from '../../lib/domain/signature';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('error causes', () => {
  it('a master key with a weak value keeps the SignatureError as cause', () => {
    const err = thrown(() => parseMasterKey(JSON.stringify({ current: 'short' })));
    expect(err).toBeInstanceOf(MasterKeyError);
    expect(err.cause).toBeInstanceOf(SignatureError);
  });

  it('an event refused for its JID keeps the JidError as cause', () => {
    const join = { type: 'join', seq: 1, host: 'a.example', user: 'u@@a.example', room: 'r@muc.a.example', nick: 'n' };
    const err = thrown(() => parseEvent(join));
    expect(err).toBeInstanceOf(EventError);
    expect(err.cause).toBeInstanceOf(JidError);
  });

  it('a body that is not JSON keeps the SyntaxError as cause', () => {
    const err = thrown(() => parseBatch('{'));
    expect(err).toBeInstanceOf(EventError);
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it('a server record with a bad host keeps the JidError as cause', () => {
    const err = thrown(() => parseServer({ id: 's', hosts: ['a..example'], apiUrl: 'https://s.example/api' }));
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.cause).toBeInstanceOf(JidError);
  });

  it('a registry file that is not JSON keeps the SyntaxError as cause', () => {
    const err = thrown(() => parseRegistryFile('{'));
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it('a JID with a bad domain keeps the domain error as cause', () => {
    const err = thrown(() => parseJid(`u@${'a'.repeat(1024)}`));
    expect(err).toBeInstanceOf(JidError);
    expect((err.cause as Error).message).toMatch(/longer than 1023 bytes/);
  });

  it('a JID with a bad resource keeps the resource error as cause', () => {
    const err = thrown(() => parseJid(`u@a.example/${'r'.repeat(1024)}`));
    expect(err).toBeInstanceOf(JidError);
    expect((err.cause as Error).message).toMatch(/longer than 1023 bytes/);
  });
});
