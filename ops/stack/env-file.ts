/**
 * The env file `stack up` writes (config.stack.envFile, mode 0600) so that `loadConfig()` in any
 * process finds the local endpoints and the generated credentials.
 */
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Quotes a value only when dotenv syntax needs it (our generated values never do). */
function envValue(value: string): string {
  return /^[\w@%+=:,./:-]*$/.test(value) ? value : `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function renderEnvFile(vars: Record<string, string>): string {
  const lines = [
    '# Written by `permitflow stack up`: endpoints and generated credentials of the local stack.',
    '# Secrets: never commit this file. Values in the process environment take precedence.',
    ...Object.entries(vars).map(([key, value]) => `${key}=${envValue(value)}`),
    '',
  ];
  return lines.join('\n');
}

export function writeEnvFile(path: string, vars: Record<string, string>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, renderEnvFile(vars), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
