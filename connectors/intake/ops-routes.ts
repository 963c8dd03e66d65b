/**
 * Operational endpoints, unauthenticated and free of personal data: liveness, readiness
 * (Kafka, object store, Redis), Prometheus metrics and the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify';
import { withTimeout } from '../../lib/timeout.ts';
import type { IntakeDeps } from './deps.ts';
import type { IntakeMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';

const CHECK_TIMEOUT_MS = 2000;

async function check(run: () => Promise<void>): Promise<string> {
  try {
    await withTimeout(run(), CHECK_TIMEOUT_MS, () => new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`));
    return 'ok';
  } catch (err) {
    return `unavailable: ${(err as Error).message}`;
  }
}

export function opsRoutes(app: FastifyInstance, deps: IntakeDeps, metrics: IntakeMetrics, isStopping: () => boolean): void {
  const document = JSON.stringify(openApiDocument());

  app.get('/healthz', () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const names = Object.keys(deps.readiness);
    const results = await Promise.all(names.map((n) => check(deps.readiness[n]!)));
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
    const ready = !isStopping() && results.every((r) => r === 'ok');
    return reply.code(ready ? 200 : 503).send({ status: isStopping() ? 'stopping' : ready ? 'ready' : 'unready', checks });
  });

  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get('/openapi.json', (_request, reply) => reply.type('application/json; charset=utf-8').send(document));
}
