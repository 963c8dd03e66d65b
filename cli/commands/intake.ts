import { Command } from 'commander';

// Placeholder until the intake gateway lands (issue 3).
export function intakeCommand(): Command {
  return new Command('intake').description('Run the HTTP intake gateway').action(() => {
    throw new Error('the intake gateway is not built yet');
  });
}
