/**
 * deploy/systemd, the units of a VM install: `systemd-analyze verify` accepts every unit (one
 * instance of the stage template per stage) without a single warning, the units run the
 * signal-safe entry with the promised hardening, and the example environment files name only
 * options of lib/config.ts. systemd-analyze comes from Debian's systemd package (`permitflow
 * stack tools` installs it when missing).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { test, type TestContext } from 'node:test';
import { loadConfig, OPTIONS, REPO_ROOT } from '../../lib/config.ts';
import { requireSystemdAnalyze } from '../../ops/stack/deploy-tools.ts';
import { PROCESSORS } from '../../topology/topics.ts';

const dir = join(REPO_ROOT, 'deploy', 'systemd');
const STAGES = Object.keys(PROCESSORS);
/** Directives every service unit sets to exactly this value. */
const HARDENING: Array<[string, string]> = [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['DynamicUser', 'yes'], ['PrivateTmp', 'yes'], ['CapabilityBoundingSet', '']];
const UNITS = ['permitflow@.service', 'permitflow-intake.service', 'permitflow-topology.service', 'permitflow.target'];
/** Drop-in folders of one stage instance (the extractor's CPU weight and memory). */
const DROP_INS = ['permitflow@extractor.service.d'];

/** The units as installed (the template plus one instance link per stage) in a scratch folder. */
function installed(t: TestContext, edit: (name: string, text: string) => string = (_n, text) => text): { dir: string; units: string[] } {
  const target = mkdtempSync(join(tmpdir(), 'pf-systemd-'));
  t.after(() => rmSync(target, { recursive: true, force: true }));
  for (const unit of UNITS) writeFileSync(join(target, unit), edit(unit, readFileSync(join(dir, unit), 'utf8')));
  const instances = STAGES.map((stage) => `permitflow@${stage}.service`);
  for (const instance of instances) symlinkSync('permitflow@.service', join(target, instance));
  for (const dropIns of DROP_INS) {
    mkdirSync(join(target, dropIns));
    for (const file of readdirSync(join(dir, dropIns))) writeFileSync(join(target, dropIns, file), edit(`${dropIns}/${file}`, readFileSync(join(dir, dropIns, file), 'utf8')));
  }
  return { dir: target, units: [...instances, 'permitflow-intake.service', 'permitflow-topology.service', 'permitflow.target'] };
}

/** systemd-analyze verify; its warnings (unknown keys, bad values) exit 0, so output counts too. */
function verify(at: { dir: string; units: string[] }): { status: number | null; output: string } {
  const result = spawnSync(requireSystemdAnalyze(), ['verify', '--man=no', ...at.units.map((u) => `./${u}`)], { cwd: at.dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.error, undefined, `systemd-analyze: ${result.error?.message}`);
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** `Key=value` lines of a unit, every value of a repeated key. */
function directives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of readFileSync(join(dir, unit), 'utf8').split('\n')) {
    const match = /^(\w+)=(.*)$/.exec(line);
    if (match) out.set(match[1]!, [...(out.get(match[1]!) ?? []), match[2]!]);
  }
  return out;
}

test('systemd-analyze verify accepts every unit, each stage instance included, without a warning', (t) => {
  const { status, output } = verify(installed(t));
  assert.equal(status, 0, output);
  assert.equal(output, '', 'no warning either');
});

test('systemd-analyze verify reports a misspelt directive and a bad value (what the test above relies on)', (t) => {
  const { output } = verify(installed(t, (name, text) => (name === 'permitflow@.service' ? text.replace('ProtectSystem=strict', 'ProtectSystm=strict').replace('Restart=on-failure', 'Restart=sometimes') : text)));
  assert.match(output, /Unknown key 'ProtectSystm'/);
  assert.match(output, /restart specifier.*sometimes/);
});

test("the extractor's drop-in is read: a misspelt directive in it is reported", (t) => {
  const { output } = verify(installed(t, (name, text) => (name.startsWith('permitflow@extractor.service.d/') ? text.replace('CPUWeight=', 'CPUWieght=') : text)));
  assert.match(output, /Unknown key 'CPUWieght'/);
});

test('the services run node on bin/permitflow.js (never npx), restart on failure and are hardened', () => {
  const expected: Record<string, string> = {
    'permitflow@.service': 'run %i',
    'permitflow-intake.service': 'intake',
    'permitflow-topology.service': 'topology apply',
  };
  for (const [unit, command] of Object.entries(expected)) {
    const d = directives(unit);
    assert.deepEqual(d.get('ExecStart'), [`/usr/bin/node /opt/permitflow/bin/permitflow.js ${command}`], unit);
    for (const [key, value] of HARDENING) {
      assert.deepEqual(d.get(key), [value], `${unit}: ${key}=${value}`);
    }
    assert.ok(d.get('EnvironmentFile')?.includes('/etc/permitflow/permitflow.env'), `${unit}: configuration from /etc/permitflow/permitflow.env`);
    if (unit !== 'permitflow-topology.service') {
      assert.deepEqual(d.get('Restart'), ['on-failure'], unit);
      assert.ok(Number(d.get('TimeoutStopSec')?.[0]) >= 30, `${unit}: time to finish the batch in hand`);
    }
  }
  const wants = directives('permitflow.target').get('Wants')![0]!.split(' ');
  for (const stage of STAGES) assert.ok(wants.includes(`permitflow@${stage}.service`), `permitflow.target starts ${stage}`);
  assert.ok(wants.includes('permitflow-intake.service'));
});

test('the example environment files name only options of lib/config.ts, load, and give each stage its own metrics port', () => {
  const files = readdirSync(join(dir, 'env')).filter((f) => f.endsWith('.env.example'));
  const read = (file: string) => parseEnv(readFileSync(join(dir, 'env', file), 'utf8'));
  const shared = read('permitflow.env.example');
  const ports = new Set<string>();
  for (const stage of STAGES) {
    assert.ok(files.includes(`${stage}.env.example`), `env/${stage}.env.example`);
    const own = read(`${stage}.env.example`);
    for (const key of [...Object.keys(shared), ...Object.keys(own)]) {
      assert.ok(key in OPTIONS, `${key} is not an option of lib/config.ts`);
      assert.ok(!(OPTIONS as Record<string, { stackOnly?: boolean }>)[key]!.stackOnly, `${key} is an option of the local stack only`);
    }
    const config = loadConfig({ ...shared, ...own, PERMITFLOW_ENV_FILE: '/nonexistent' });
    assert.ok(config.metrics.port > 0, stage);
    ports.add(String(config.metrics.port));
  }
  assert.equal(ports.size, STAGES.length, 'one metrics port per stage on one machine');
});
