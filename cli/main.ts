/**
 * `permitflow <command>`: the operator's entry point. Each command lives in its own module
 * and has `--help`. Errors end the process with a message and a non-zero exit, never a stack
 * trace for a problem the operator can fix.
 */
import { Command } from 'commander';
import { ConfigError } from '../lib/config.ts';
import { loggableError, PermitflowError } from '../lib/errors.ts';
import { stackCommand } from '../ops/stack/command.ts';
import { demoCommand } from './commands/demo.ts';
import { dlqCommand } from './commands/dlq.ts';
import { fileDropCommand } from './commands/file-drop.ts';
import { importCommand } from './commands/import.ts';
import { intakeCommand, keysCommand } from './commands/intake.ts';
import { runCommand } from './commands/run.ts';
import { statusCommand } from './commands/status.ts';
import { topologyCommand } from './commands/topology.ts';
import { traceCommand } from './commands/trace.ts';

const program = new Command('permitflow')
  .description('Durable, auditable, high-volume permit submission pipeline on Kafka')
  .showHelpAfterError()
  .addCommand(stackCommand())
  .addCommand(topologyCommand())
  .addCommand(intakeCommand())
  .addCommand(keysCommand())
  .addCommand(runCommand())
  .addCommand(statusCommand())
  .addCommand(demoCommand())
  .addCommand(importCommand())
  .addCommand(fileDropCommand())
  .addCommand(traceCommand())
  .addCommand(dlqCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError || err instanceof PermitflowError) {
    console.error(`permitflow: ${err.message}`);
  } else {
    // Class, code, scrubbed messages and frames: a library's error may carry the data it failed on.
    const failure = loggableError(err);
    console.error(`permitflow: unexpected failure: ${failure.stack ?? failure.message}`);
  }
  process.exitCode = 1;
}
