// Checks of the Prosody module itself: every file of its folder compiles, its libraries are
// the ones it requires, every option is read once in the module file and documented with its
// default, and it refuses to load without its required options.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MODULE_DIR, MODULE_FOLDER, Testbed } from '../../harness/testbed';

const MODULE = path.join(MODULE_FOLDER, 'mod_ping_muc_cloud.lua');
const README = path.join(MODULE_DIR, 'README.md');
const FILES = fs
  .readdirSync(MODULE_FOLDER)
  .filter((f) => f.endsWith('.lua'))
  .sort();
const LIBS = FILES.filter((f) => f.endsWith('.lib.lua'));
const source = fs.readFileSync(MODULE, 'utf8');
const readme = fs.readFileSync(README, 'utf8');

function luac(): string {
  for (const c of ['luac', 'luac5.4', 'luac5.3', 'luac5.2', 'luac5.1']) {
    if (!spawnSync(c, ['-v'], { encoding: 'utf8' }).error) return c;
  }
  throw new Error('no luac found: run `bash scripts/ensure-prosody.sh` as root (installs lua5.4 with luac5.4)');
}

/** `module:get_option_<type>("name"[, default])` calls of the module. */
function options(): Array<{ name: string; def: string | undefined }> {
  const re = /module:get_option_\w+\(\s*"(ping_muc_cloud_[a-z_]+)"\s*(?:,\s*([^)]+?))?\s*\)/g;
  return [...source.matchAll(re)].map((m) => ({ name: m[1]!, def: m[2]?.trim().replace(/^"(.*)"$/, '$1') }));
}

describe('mod_ping_muc_cloud/', () => {
  it('holds only the module file with its libraries', () => {
    expect(FILES).toContain('mod_ping_muc_cloud.lua');
    expect(LIBS.length).toBeGreaterThanOrEqual(3);
    expect(FILES.filter((f) => f !== 'mod_ping_muc_cloud.lua' && !f.endsWith('.lib.lua'))).toEqual([]);
  });

  it('leaves nothing at the single-file path', () => {
    expect(fs.existsSync(path.join(MODULE_DIR, 'mod_ping_muc_cloud.lua'))).toBe(false);
  });

  it.each(FILES)('%s compiles (luac -p)', (file) => {
    const r = spawnSync(luac(), ['-p', path.join(MODULE_FOLDER, file)], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('requires each library of its folder once from the module file', () => {
    const required = [...source.matchAll(/module:require\("([a-z_]+)"\)/g)].map((m) => `${m[1]}.lib.lua`);
    expect([...required].sort()).toEqual(LIBS);
  });

  it('lets no library require another', () => {
    for (const lib of LIBS) {
      const text = fs.readFileSync(path.join(MODULE_FOLDER, lib), 'utf8');
      expect(text, `${lib} loads another library itself`).not.toMatch(/module:require\(/);
    }
  });

  it('the module file fits on a screen', () => {
    expect(source.split('\n').length).toBeLessThanOrEqual(150);
  });

  it('reads its options once at the top level of the module file', () => {
    const found = options();
    expect(found.length).toBeGreaterThanOrEqual(10);
    const secrets = /^local function read_secrets\(\)\n([\s\S]*?)\nend\n/m.exec(source)?.[1];
    expect(secrets, 'read_secrets() reads the secrets').toBeDefined();
    for (const line of source.split('\n').filter((l) => l.includes('get_option'))) {
      if (secrets!.includes(line)) expect(line, 'read_secrets() reads only secrets').toMatch(/_secret(_previous)?"\)/);
      else expect(line.startsWith('local '), line).toBe(true);
    }
  });

  it('reads the secrets again on a config reload', () => {
    expect(source).toMatch(
      /module:hook_global\("config-reloaded", function \(\)\n\tlocal ok, w, a = pcall\(read_secrets\);/,
    );
  });

  it('reads no option in its libraries', () => {
    for (const lib of LIBS) {
      expect(fs.readFileSync(path.join(MODULE_FOLDER, lib), 'utf8'), `${lib} reads options`).not.toMatch(/get_option/);
    }
  });

  it('documents every option with its default in prosody/README.md', () => {
    const rows = new Map<string, string>();
    for (const m of readme.matchAll(/^\|\s*`(ping_muc_cloud_[a-z_]+)`\s*\|\s*([^|]+?)\s*\|/gm)) rows.set(m[1]!, m[2]!);
    for (const { name, def } of options()) {
      const row = rows.get(name);
      expect(row, `${name} is not in the README's option table`).toBeDefined();
      if (def === undefined)
        expect(row, `${name} has no default: the README must say it is required, or unset`).toMatch(
          /^\*\((required|unset)\)\*$/,
        );
      else expect(row, `${name}: README default must be ${def}`).toBe(`\`${def}\``);
    }
    for (const name of rows.keys())
      expect(
        options().map((o) => o.name),
        `${name} is documented but not read`,
      ).toContain(name);
  });

  it('documents installing the module folder into a plugin path', () => {
    expect(readme).toMatch(/^Installation$/m);
    expect(readme).toMatch(/`mod_ping_muc_cloud\/`/);
    expect(readme).toMatch(/plugin_paths/);
    expect(readme).toMatch(/modules_enabled = \{ "ping_muc_cloud" \}/);
  });

  it('documents the Prosody versions it works with', () => {
    expect(readme).toMatch(/^Compatibility$/m);
    expect(readme).toMatch(/^\s*0\.12\s+Works/m);
    expect(readme).toMatch(/^\s*13\s+/m);
  });
});

describe('loading without a required option', () => {
  let bed: Testbed | undefined;
  afterAll(async () => {
    await bed?.stop();
  });

  it('refuses to load with a logged error instead of a stanza API', async () => {
    bed = await Testbed.create({ aModules: ['ping_muc_cloud', 'http'], aOptions: { ping_muc_cloud_api_secret: '' } });
    await bed.start('http://127.0.0.1:9/events');
    const deadline = Date.now() + 5000;
    while (!/ping_muc_cloud_api_secret is required, refusing to load/.test(bed.a.log()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(bed.a.log()).toMatch(/ping_muc_cloud_api_secret is required, refusing to load/);
    const res = await fetch(bed.apiUrl, { method: 'POST', body: '<iq/>' });
    expect(res.status).toBe(404);
  }, 30_000);
});
