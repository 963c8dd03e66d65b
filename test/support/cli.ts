/** `./bin/permitflow.js` as a child process of a test, killed when the test ends. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { REPO_ROOT } from '../../lib/config.ts';

export interface CliChild {
  child: ChildProcess;
  /** Resolves with the exit code and signal, once. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  stdout: () => string;
  stderr: () => string;
}

export interface CliOptions {
  /** Called with every chunk of stdout and stderr (e.g. to wait for a log line). */
  onOutput?: (text: string) => void;
  /** Keep only the last this many characters of each stream (a long run logs a lot). */
  keepChars?: number;
  /** Print both streams to stderr when the test ends (set PERMITFLOW_TEST_CHILD_LOGS to get it for all). */
  label?: string;
}

/**
 * Runs `permitflow <args>` with the test's environment plus `env`. No metrics endpoint unless
 * the test asks: several children would want the same port. A child still running when the
 * test ends is SIGKILLed and awaited, so no test leaves a process behind.
 */
export function spawnCli(t: TestContext, args: string[], env: Record<string, string>, options: CliOptions = {}): CliChild {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/permitflow.js'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keepChars = options.keepChars ?? 1_000_000;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString()).slice(-keepChars);
    options.onOutput?.(chunk.toString());
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-keepChars);
    options.onOutput?.(chunk.toString());
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(async () => {
    if (process.env.PERMITFLOW_TEST_CHILD_LOGS) console.error(`--- ${options.label ?? args.join(' ')} pid ${child.pid} ---\n${stdout}${stderr}`);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}
