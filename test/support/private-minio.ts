/**
 * A MinIO of one test's own, started by the stack's own MinIO service (ops/minio) in a temporary
 * stack folder on free ports, so a test can SIGKILL and restart it while other tests use the
 * shared one. The binary is the one `permitflow stack up` built into the cache.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../lib/config.ts';
import { minioService } from '../../ops/minio/service.ts';
import { isAlive, stopProcess, waitUntil } from '../../ops/stack/proc.ts';
import { loadSecrets } from '../../ops/stack/secrets.ts';
import { stackPaths } from '../../ops/stack/service.ts';
import { freePort } from './ports.ts';

export interface PrivateMinio {
  /** S3_* variables for the application (its bucket-scoped user). */
  env: Record<string, string>;
  /** SIGKILLs the server and resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data, and resolves once it answers. */
  start(): Promise<void>;
}

export async function startPrivateMinio(t: TestContext): Promise<PrivateMinio> {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-minio-'));
  const config = loadConfig({
    ...process.env,
    PERMITFLOW_STACK_DIR: dir,
    PERMITFLOW_MINIO_PORT: String(await freePort()),
    PERMITFLOW_MINIO_CONSOLE_PORT: String(await freePort()),
  });
  const paths = stackPaths(config);
  const service = minioService({ config, paths, secrets: loadSecrets(dir, true)!, say: () => undefined });
  let pid: number | undefined;

  async function start(): Promise<void> {
    pid = await service.start();
    const started = pid;
    await waitUntil(() => service.probe(), { deadline: Date.now() + 60_000, giveUp: () => (isAlive(started) ? undefined : 'private MinIO exited at start') });
  }

  t.after(async () => {
    if (pid !== undefined && isAlive(pid)) await stopProcess(pid, 'SIGKILL', 10_000);
    rmSync(dir, { recursive: true, force: true });
  });
  await service.prepare();
  await start();
  await service.configure();

  return {
    env: service.env(),
    async kill() {
      if (pid === undefined) return;
      process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      while (isAlive(pid)) {
        if (Date.now() > deadline) throw new Error(`private MinIO (pid ${pid}) survived SIGKILL`);
        await sleep(50);
      }
    },
    start,
  };
}
