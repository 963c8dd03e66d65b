import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../../connectors/intake/app.ts';
import { ConfigError, loadConfig, REPO_ROOT } from '../../lib/config.ts';
import { PROCESSORS } from '../../topology/topics.ts';

const noEnvFile = { PERMITFLOW_ENV_FILE: '/nonexistent/stack.env' };

test('intake defaults: loopback 8088, 25 MiB bodies, 64 KiB inline, keys in the stack dir, the windower watched', () => {
  const { intake } = loadConfig(noEnvFile);
  assert.equal(intake.host, '127.0.0.1');
  assert.equal(intake.port, 8088);
  assert.equal(intake.bodyLimitBytes, 25 * 1024 * 1024);
  assert.equal(intake.inlineLimitBytes, 64 * 1024);
  assert.equal(intake.apiKeysFile, join(REPO_ROOT, '.stack', 'api-keys.json'));
  assert.deepEqual(intake.lag.processors, ['windower']);
});

test('the watched processors are named as in the topology, and a wrong name is refused with the choices', () => {
  const all = Object.keys(PROCESSORS).join(',');
  assert.deepEqual(loadConfig({ ...noEnvFile, INTAKE_LAG_PROCESSORS: all }).intake.lag.processors, Object.keys(PROCESSORS));
  assert.throws(
    () => loadConfig({ ...noEnvFile, INTAKE_LAG_PROCESSORS: 'windower,chunker' }),
    (err: unknown) => err instanceof ConfigError && /INTAKE_LAG_PROCESSORS=.*expected processor names/.test(err.message),
  );
});

test('a headers timeout longer than the request timeout is a configuration error at start', async () => {
  const deps = { settings: loadConfig({ ...noEnvFile, INTAKE_HEADERS_TIMEOUT_MS: '5000', INTAKE_REQUEST_TIMEOUT_MS: '1000' }).intake };
  await assert.rejects(buildApp(deps as Parameters<typeof buildApp>[0]), /INTAKE_HEADERS_TIMEOUT_MS \(5000\) must not exceed INTAKE_REQUEST_TIMEOUT_MS \(1000\)/);
});
