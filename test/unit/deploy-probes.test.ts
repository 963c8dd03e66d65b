/**
 * The probes the Kubernetes manifests and systemd-less orchestrators use on a stage process's
 * metrics port: /healthz answers as soon as the process serves, /readyz only between
 * "joined its groups" and "stopping" (`permitflow run` flips it; the scale-out bench waits on it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../lib/logger.ts';
import { serveMetrics } from '../../lib/observability/metrics.ts';

test('/readyz is 503 until the stage is ready and again once it stops; /healthz is 200 throughout', async (t) => {
  const metrics = await serveMetrics({ host: '127.0.0.1', port: 0 }, createLogger({ level: 'silent' }));
  t.after(() => metrics.close());
  const base = metrics.url.replace(/\/metrics$/, '');
  const status = async (path: string) => (await fetch(`${base}${path}`)).status;

  assert.equal(await status('/healthz'), 200);
  assert.equal(await status('/readyz'), 503, 'starting: not ready');
  metrics.setReady(true);
  assert.equal(await status('/readyz'), 200);
  assert.deepEqual(await (await fetch(`${base}/readyz`)).json(), { status: 'ready' });
  metrics.setReady(false);
  assert.equal(await status('/readyz'), 503, 'stopping: not ready');
  assert.equal(await status('/healthz'), 200);
});
