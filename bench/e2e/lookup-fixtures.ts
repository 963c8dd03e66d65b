/**
 * The county API stand-ins (test/fixtures/lookups/serve.ts) as their own process, on the LOOKUPS_*
 * defaults, for the benchmarks that run the stages (bench/e2e; bench/extract's mixed runs). The
 * Celery peer queries the same ones. They stop when the benchmark's process ends, however it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../../lib/config.ts';

export async function startLookupFixtures(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/fixtures/lookups/serve.ts'), '--exit-with-parent'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit').then(() => {
    throw new Error('the lookup fixture servers exited before listening');
  });
  exited.catch(() => undefined); // only the race below cares
  await Promise.race([once(createInterface({ input: child.stdout }), 'line'), exited]);
  return child;
}
