/**
 * The bench scripts' flags (bench/args.ts): a bad flag is a clear error, exit 2 with the usage and
 * no stack trace, and `--help` prints the usage, both before the script opens any connection:
 * these run the real scripts without the local stack.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mock, test } from 'node:test';
import { parseBenchArgs } from '../../bench/args.ts';
import { REPO_ROOT } from '../../lib/config.ts';

// e2e validates further after the parse, archiver connects right after it, windower takes a positional.
const SCRIPTS = ['bench/e2e/index.ts', 'bench/archiver/index.ts', 'bench/windower/index.ts'];
const STACK_LINE = /^ {4}at /m;

function runScript(script: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The timeout turns a script that went on to connect (and hang) into a failure, not a stuck run.
    const child = execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, timeout: 60_000 }, (_err, stdout, stderr) =>
      resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

for (const script of SCRIPTS) {
  test(`${script}: --bogus exits 2 with the usage, --help prints it and exits 0`, async () => {
    const [bogus, help] = await Promise.all([runScript(script, '--bogus'), runScript(script, '--help')]);
    assert.equal(bogus.code, 2, bogus.stderr);
    assert.match(bogus.stderr, /^bench [\w-]+: Unknown option '--bogus'/);
    assert.ok(bogus.stderr.includes(`Usage: node --import tsx ${script}`), bogus.stderr);
    assert.doesNotMatch(bogus.stderr, STACK_LINE);
    assert.equal(help.code, 0, help.stderr);
    assert.ok(help.stdout.startsWith(`Usage: node --import tsx ${script}`), help.stdout);
  });
}

class Exited extends Error {
  constructor(readonly code: number | string | null | undefined) {
    super(`exit ${code}`);
  }
}

const USAGE = 'Usage: demo [--rows N]';
const OPTIONS = { rows: { type: 'string', default: '10' } } as const;

/** Runs the helper in this process with exit and output caught; restored before anything else writes. */
function parseCaught(args: string[]): { exit: Exited; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const mocks = [
    mock.method(process, 'exit', (code?: number | string | null): never => {
      throw new Exited(code);
    }),
    mock.method(process.stdout, 'write', (chunk: string) => ((stdout += chunk), true)),
    mock.method(process.stderr, 'write', (chunk: string) => ((stderr += chunk), true)),
  ];
  try {
    parseBenchArgs('demo', USAGE, { args, options: OPTIONS });
  } catch (err) {
    if (err instanceof Exited) return { exit: err, stdout, stderr };
    throw err;
  } finally {
    for (const m of mocks) m.mock.restore();
  }
  assert.fail('expected the helper to exit');
}

test('a missing option value exits 2 with the message and the usage on stderr', () => {
  const { exit, stdout, stderr } = parseCaught(['--rows']);
  assert.equal(exit.code, 2);
  assert.equal(stdout, '');
  assert.equal(stderr, `bench demo: Option '--rows <value>' argument missing\n\n${USAGE}\n`);
});

test('--help wins over a bad flag beside it', () => {
  const { exit, stdout, stderr } = parseCaught(['--bogus', '-h']);
  assert.equal(exit.code, 0);
  assert.equal(stdout, `${USAGE}\n`);
  assert.equal(stderr, '');
});

test('good flags come back as parseArgs gives them; -h after -- is a positional, not help', () => {
  const { values, positionals } = parseBenchArgs('demo', USAGE, { args: ['--rows', '5', '--', '-h'], allowPositionals: true, options: OPTIONS });
  const rows: string = values.rows; // typed as parseArgs types it: a string, its default given
  assert.equal(rows, '5');
  assert.deepEqual(positionals, ['-h']);
});
