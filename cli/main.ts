/**
 * `permitflow <command>`: the operator's entry point. Each command lives in its own module
 * and has `--help`. Errors end the process with a message and a non-zero exit, never a stack
 * trace for a problem the operator can fix.
 *
 * Only the module of the command being run is imported: the others (Kafka, AWS SDK, Fastify,
 * pg, OpenTelemetry...) would cost about a second and 100 MB per start. `permitflow --help`
 * lists the commands from the table below; test/unit/cli.test.ts keeps it in step with the
 * commands' own descriptions.
 */
import { Command, Help } from 'commander';

interface CommandEntry {
  name: string;
  /** How the command's list shows it, arguments included (commander's `subcommandTerm`). */
  term?: string;
  description: string;
  load: () => Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'stack',
    description: 'Local stack without Docker: Kafka (KRaft), Apicurio Registry, MinIO, Redis and PostgreSQL on 127.0.0.1, state in PERMITFLOW_STACK_DIR',
    load: async () => (await import('../ops/stack/command.ts')).stackCommand(),
  },
  { name: 'topology', description: 'Describe or apply the topics, schemas and processor graph', load: async () => (await import('./commands/topology.ts')).topologyCommand() },
  {
    name: 'intake',
    description: 'Run the HTTP intake gateway (POST /v1/submissions); `intake keys` manages API keys',
    load: async () => (await import('./commands/intake.ts')).intakeCommand(),
  },
  { name: 'keys', description: "Manage the intake clients' API keys (stored hashed in INTAKE_API_KEYS_FILE)", load: async () => (await import('./commands/intake.ts')).keysCommand() },
  {
    name: 'run',
    term: 'run <processor>',
    description: 'Run a processor until stopped: extractor, windower, enricher, validator, decider, read-model, notifier, archiver, or all',
    load: async () => (await import('./commands/run.ts')).runCommand(),
  },
  {
    name: 'status',
    term: 'status [options]',
    description: 'Live view of every stage: consumer lag (total, worst partition), records/s, in-flight records and dead letters',
    load: async () => (await import('./commands/status.ts')).statusCommand(),
  },
  {
    name: 'demo',
    term: 'demo [options]',
    description: 'Run the whole pipeline on the local stack (start it with `permitflow stack up`): HTTP and file submissions to decisions',
    load: async () => (await import('./commands/demo.ts')).demoCommand(),
  },
  {
    name: 'import',
    term: 'import [options] <file>',
    description: 'Import a legacy CSV or JSON Lines export: one submission per row, exactly once (run again to resume), bad rows to the DLQ',
    load: async () => (await import('./commands/import.ts')).importCommand(),
  },
  { name: 'file-drop', description: 'Drop-folder connector for legacy exports (SFTP uploads)', load: async () => (await import('./commands/file-drop.ts')).fileDropCommand() },
  { name: 'trace', term: 'trace [options] <id>', description: 'Print the audit timeline of a submission from the read model', load: async () => (await import('./commands/trace.ts')).traceCommand() },
  { name: 'dlq', description: 'Inspect and replay dead letters', load: async () => (await import('./commands/dlq.ts')).dlqCommand() },
  {
    name: 'plan',
    term: 'plan [options]',
    description: 'Forecast the next surge from history (an export or the read model) and say what to run for it; writes an HTML/SVG/PNG report',
    load: async () => (await import('./commands/plan.ts')).planCommand(),
  },
  {
    name: 'webhooks',
    description: 'Signed status webhooks for integrators: add, list, remove subscriptions; list deliveries; replay dead letters',
    load: async () => (await import('./commands/webhooks.ts')).webhooksCommand(),
  },
  {
    name: 'audit',
    description: "Verify the tamper-evident audit archive, or rebuild a submission's history from it",
    load: async () => (await import('./commands/audit.ts')).auditCommand(),
  },
];

/**
 * The command `argv` invokes (`permitflow help <command>` included), if any. The program itself
 * takes no option with a value, so the first operand is the command.
 */
export function invokedCommand(argv: readonly string[]): CommandEntry | undefined {
  const operands = argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const name = operands[0] === 'help' ? operands[1] : operands[0];
  return COMMANDS.find((entry) => entry.name === name);
}

/** The program with the invoked command loaded and the others as name and description only. */
export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const invoked = invokedCommand(argv);
  const program = new Command('permitflow')
    .description('Durable, auditable, high-volume permit submission pipeline on Kafka')
    .showHelpAfterError()
    // The commands not loaded have no arguments or options to show: the table says them.
    .configureHelp({ subcommandTerm: (command) => COMMANDS.find((entry) => entry.name === command.name())?.term ?? new Help().subcommandTerm(command) });
  for (const entry of COMMANDS) {
    program.addCommand(entry === invoked ? await entry.load() : new Command(entry.name).description(entry.description));
  }
  return program;
}

/** Runs the command `argv` names; bin/permitflow.js calls it. */
export async function main(argv: string[]): Promise<void> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
  } catch (err) {
    // Loaded only on failure, for the same reason as the commands.
    const [{ ConfigError }, { loggableError, PermitflowError }] = await Promise.all([import('../lib/config.ts'), import('../lib/errors.ts')]);
    if (err instanceof ConfigError || err instanceof PermitflowError) {
      console.error(`permitflow: ${err.message}`);
    } else {
      // Class, code, scrubbed messages and frames: a library's error may carry the data it failed on.
      const failure = loggableError(err);
      console.error(`permitflow: unexpected failure: ${failure.stack ?? failure.message}`);
    }
    process.exitCode = 1;
  }
}
