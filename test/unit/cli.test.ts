/**
 * `permitflow` loads only the module of the command it runs, and each command loads its
 * heavy modules (Kafka, AWS SDK, Fastify, pg...) in its action: `--help` stays fast and small.
 * Its list of commands is a table, held here to the commands' own names and descriptions.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { Command, Help } from 'commander';
import { promisify } from 'node:util';
import { availableProcessors } from '../../cli/processors.ts';
import { REPO_ROOT } from '../../lib/config.ts';
import { buildProgram, COMMANDS, invokedCommand } from '../../cli/main.ts';
import { RUNNABLE } from '../../cli/commands/run.ts';

test("the command table matches every command's own name, arguments and description", async () => {
  for (const entry of COMMANDS) {
    const command = await entry.load();
    assert.deepEqual([new Help().subcommandTerm(command), command.description()], [entry.term ?? entry.name, entry.description]);
  }
});

test('`permitflow --help` lists every command as it would with all of them loaded', async () => {
  const argv = ['node', 'permitflow', '--help'];
  const listed = await buildProgram(argv);
  const loaded = new Command('permitflow');
  for (const entry of COMMANDS) loaded.addCommand(await entry.load());
  const list = (program: Command) => program.createHelp().visibleCommands(program).map((c) => [program.createHelp().subcommandTerm(c), c.description()]);
  assert.deepEqual(list(listed), list(loaded));
});

test('the invoked command is the first operand, also after `help`', () => {
  assert.equal(invokedCommand(['node', 'permitflow', 'run', 'decider'])?.name, 'run');
  assert.equal(invokedCommand(['node', 'permitflow', 'help', 'dlq'])?.name, 'dlq');
  assert.equal(invokedCommand(['node', 'permitflow', '--help']), undefined);
  assert.equal(invokedCommand(['node', 'permitflow', 'nope']), undefined);
});

test('`run` names every processor there is', () => {
  assert.deepEqual([...RUNNABLE].sort(), availableProcessors().sort());
});

/**
 * The packages a child process resolves while it shows `permitflow <args>` (commander's exit
 * is overridden, so the child reports after the help was printed).
 */
async function packagesLoadedFor(args: string[]): Promise<string[]> {
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = new Set();
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.add(r.url); return r; } });
    const { buildProgram } = await import('./cli/main.ts');
    const argv = ['node', 'permitflow', ...${JSON.stringify(args)}];
    const program = await buildProgram(argv);
    const quiet = (c) => { c.exitOverride().configureOutput({ writeOut() {}, writeErr() {} }); c.commands.forEach(quiet); };
    quiet(program);
    await program.parseAsync(argv).catch(() => undefined);
    const packages = [...loaded].map((u) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(u)?.[1]).filter(Boolean);
    console.log(JSON.stringify([...new Set(packages)].sort()));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT });
  return JSON.parse(stdout) as string[];
}

test('`--help`, of the program and of each command, loads no package but commander', async () => {
  // The key commands list their scopes from the key file's module, which validates with zod.
  const alsoNeeded: Record<string, string[]> = { intake: ['zod'], keys: ['zod'] };
  assert.deepEqual(await packagesLoadedFor(['--help']), ['commander']);
  // `stack` (ops/stack/command.ts) still loads its services' clients with the command.
  for (const entry of COMMANDS.filter((e) => e.name !== 'stack')) {
    assert.deepEqual(await packagesLoadedFor([entry.name, '--help']), ['commander', ...(alsoNeeded[entry.name] ?? [])], `permitflow ${entry.name} --help`);
  }
});
