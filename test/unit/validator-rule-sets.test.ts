/**
 * Rule-set files: the shipped ones load; a bad one stops start-up with every problem named by
 * file and JSON pointer; the version in force on a date is chosen.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigError, loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { loadRuleSets } from '../../processors/validator/rule-set.ts';

const SHIPPED = readFileSync(join(REPO_ROOT, 'rules/us-or-cedar-county/2026.11.yaml'), 'utf8');

/** A rules directory holding the given files (path relative to it: content). */
function rulesDir(t: TestContext, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the rule sets to be refused');
}

test('the shipped rule sets load from RULES_DIR and choose the version in force', () => {
  const sets = loadRuleSets(loadConfig({ PERMITFLOW_ENV_FILE: '/nonexistent' }).rules.dir);
  assert.deepEqual(sets.all().map((s) => s.id).sort(), ['us-or-cedar-county@2025.07', 'us-or-cedar-county@2026.11']);
  assert.equal(sets.inForce('us-or-cedar-county', '2026-11-01')!.version, '2026.11');
  assert.equal(sets.inForce('us-or-cedar-county', '2026-10-31')!.version, '2025.07');
  // An application dated before every version is judged by the oldest rather than by none.
  assert.equal(sets.inForce('us-or-cedar-county', '2019-01-01')!.version, '2025.07');
  assert.equal(sets.inForce('us-ca-nowhere', '2026-11-01'), undefined);
  assert.equal(sets.byId('us-or-cedar-county@2025.07')!.effectiveFrom, '2025-07-01');
});

test('a schema violation names the file and the JSON pointer of each bad value', (t) => {
  const bad = SHIPPED.replace('severity: ERROR\n    message: "The site is in a special', 'severity: FATAL\n    message: "The site is in a special').replace('currency: USD', 'currency: USD\nfavouriteColour: teal');
  const dir = rulesDir(t, { 'us-or-cedar-county/2026.11.yaml': bad });
  const problems = problemsOf(() => loadRuleSets(dir));
  assert.ok(problems.some((p) => /us-or-cedar-county\/2026\.11\.yaml: \/overlays\/0\/severity: must be one of ERROR, WARNING, INFO/.test(p)), problems.join('\n'));
  assert.ok(problems.some((p) => /2026\.11\.yaml: \/: unknown property "favouriteColour"/.test(p)), problems.join('\n'));
});

test('a required field rule needs exactly one of field and anyOf; a range needs a bound', (t) => {
  const bad = SHIPPED.replace('  - field: /description\n', '  - field: /description\n    anyOf: [/a, /b]\n').replace('    min: 1\n    max: 100000000\n', '');
  const problems = problemsOf(() => loadRuleSets(rulesDir(t, { 'us-or-cedar-county/2026.11.yaml': bad })));
  assert.ok(problems.some((p) => p.includes('/requiredFields/0')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('/valueRanges/0')), problems.join('\n'));
});

test('names must match the folder and file, ranges must be ordered, versions must differ in date', (t) => {
  const dir = rulesDir(t, {
    'us-or-elsewhere/2026.11.yaml': SHIPPED,
    'us-or-cedar-county/2026.12.yaml': SHIPPED.replace('    min: 1\n    max: 100000000', '    min: 5\n    max: 1'),
    'us-or-cedar-county/2026.11.yaml': SHIPPED,
  });
  const problems = problemsOf(() => loadRuleSets(dir));
  assert.ok(problems.some((p) => /us-or-elsewhere\/2026\.11\.yaml: \/jurisdiction: "us-or-cedar-county" differs from its folder/.test(p)), problems.join('\n'));
  assert.ok(problems.some((p) => /2026\.12\.yaml: \/version: "2026\.11" differs from the file name/.test(p)), problems.join('\n'));
  assert.ok(problems.some((p) => /2026\.12\.yaml: \/valueRanges\/0: min 5 is above max 1/.test(p)), problems.join('\n'));
});

test('two versions of one jurisdiction cannot share an effective date', (t) => {
  const dir = rulesDir(t, {
    'us-or-cedar-county/2026.11.yaml': SHIPPED,
    'us-or-cedar-county/2026.11b.yaml': SHIPPED.replace('version: "2026.11"', 'version: "2026.11b"'),
  });
  assert.ok(problemsOf(() => loadRuleSets(dir)).some((p) => p.includes('/effectiveFrom: 2026-11-01 is also the date of')));
});

test('YAML that does not parse, and a directory without rule sets, are refused', (t) => {
  assert.match(problemsOf(() => loadRuleSets(rulesDir(t, { 'us-or-cedar-county/2026.11.yaml': 'permitTypes: [Building\n' })))[0]!, /2026\.11\.yaml: not valid YAML/);
  assert.match(problemsOf(() => loadRuleSets(rulesDir(t, { 'README.txt': 'nothing here' })))[0]!, /no rule sets/);
  assert.match(problemsOf(() => loadRuleSets('/nonexistent/rules'))[0]!, /RULES_DIR=\/nonexistent\/rules: no such directory/);
});
