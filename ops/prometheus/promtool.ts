/**
 * promtool, which checks the Prometheus config and alert rules of ops/prometheus and runs their
 * unit tests. No prebuilt binary can be downloaded here, so it is built like MinIO: `go install`
 * through the Go module proxy, once, into the cache. `permitflow stack tools` (a prerequisite of
 * `make test`) builds it; tests find it through requirePromtool().
 */
import { mkdirSync } from 'node:fs';
import { logFile } from '../stack/proc.ts';
import { StackError } from '../stack/service.ts';
import type { StackPaths } from '../stack/service.ts';
import { cachedGoCommand, ensureGoCommand, goCommandPath } from '../stack/tools.ts';
import type { GoCommand } from '../stack/tools.ts';

/** Prometheus tags its Go module v0.<major*100+minor>.<patch>: v0.316.0 is Prometheus 3.16.0. */
export const PROMTOOL: GoCommand = { pkg: 'github.com/prometheus/prometheus/cmd/promtool', version: 'v0.316.0', binary: 'promtool', minGo: '1.26.7' };

/** Builds promtool into the cache unless it is there at the pinned version; returns its path. */
export async function ensurePromtool(paths: StackPaths, say: (message: string) => void): Promise<string> {
  mkdirSync(paths.logs, { recursive: true });
  mkdirSync(paths.cache, { recursive: true });
  return ensureGoCommand(paths.cache, PROMTOOL, { log: logFile(paths, 'promtool.build'), say });
}

/** The cached promtool, or a StackError saying how to get it (tests fail on it, never skip). */
export function requirePromtool(cacheDir: string): string {
  const path = cachedGoCommand(cacheDir, PROMTOOL);
  if (path) return path;
  throw new StackError(
    `promtool ${PROMTOOL.version} is not built at ${goCommandPath(cacheDir, PROMTOOL)}: run \`make test\`, or \`npx permitflow stack tools\` ` +
      `(builds it once with \`go install ${PROMTOOL.pkg}@${PROMTOOL.version}\`; needs Go ${PROMTOOL.minGo} or newer).`,
  );
}
