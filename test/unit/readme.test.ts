import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OPTIONS, REPO_ROOT } from '../../lib/config.ts';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

test('the README documents every configuration option', () => {
  const missing = Object.keys(OPTIONS).filter((name) => !readme.includes(`\`${name}\``));
  assert.deepEqual(missing, [], 'add these to the configuration table of README.md');
});

test('the README quick start is the two commands', () => {
  assert.match(readme, /make demo/);
  assert.match(readme, /make test/);
});
