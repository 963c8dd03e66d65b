/** Helpers for the file-drop importer's tests on the real stack. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createImportDeps } from '../../connectors/file-drop/deps.ts';
import { importFile, type ImportReport } from '../../connectors/file-drop/importer.ts';
import type { Mapping } from '../../connectors/file-drop/mapping.ts';
import { REPO_ROOT, type Config } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import { startProcessors } from '../../cli/processors.ts';
import type { Topology } from '../../topology/topics.ts';
import { testConfig, testTopology } from './stack.ts';

export const SAMPLE = join(REPO_ROOT, 'test/fixtures/exports/sf-dbi-building-permits.csv');
export const SF_MAPPING = join(REPO_ROOT, 'connectors/file-drop/mappings/sf-dbi-building-permits.yaml');

const logger = createLogger({ level: 'warn' });

/** A unique namespace with its topics, changelogs included, removed when the test ends. */
export async function importStack(t: TestContext, overrides: Record<string, string> = {}): Promise<{ config: Config; topology: Topology; env: Record<string, string> }> {
  const env = {
    IMPORT_CHUNK_ROWS: '100',
    LOG_LEVEL: 'warn',
    ...overrides,
  };
  const config = await testConfig(env);
  const topology = await testTopology(t, config);
  return { config, topology, env: { ...env, PERMITFLOW_TOPIC_NAMESPACE: config.topology.namespace, PERMITFLOW_PARTITIONS: String(config.topology.partitions) } };
}

/** A temporary folder removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'permitflow-import-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** importFile in this process, with the real dependencies. */
export async function importHere(config: Config, path: string, mapping: Mapping): Promise<ImportReport> {
  const deps = createImportDeps(config, logger);
  try {
    return await importFile(path, mapping, deps);
  } finally {
    deps.close();
  }
}

export interface CliRun {
  child: ReturnType<typeof spawn>;
  output: () => string;
  /** Resolves with the exit code (null when killed) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `permitflow <args>` as a child process with this test's environment. */
export function permitflow(t: TestContext, args: string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d.toString()));
  child.stderr.on('data', (d: Buffer) => chunks.push(d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, output: () => chunks.join(''), exited };
}

/** Runs the windower in this process until the test ends. */
export async function startWindower(t: TestContext, config: Config): Promise<void> {
  const processors = await startProcessors(config, ['windower'], logger);
  t.after(() => processors.stop());
  await processors.started;
}
