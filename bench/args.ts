/**
 * The bench scripts' flags: `util.parseArgs` with `--help` and bad input handled the project's
 * way. `--help` (or `-h`) prints the script's usage and exits 0; an unknown option, a missing
 * value or an unexpected argument prints `bench <name>: <what is wrong>` and the usage to stderr
 * and exits 2, instead of a stack trace. Call it before anything connects to a service.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Every script takes `--help` without declaring it. */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

export function parseBenchArgs<T extends ParseArgsConfig>(name: string, usage: string, config: T): ReturnType<typeof parseArgs<T>> {
  const withHelp = { ...config, options: { ...config.options, ...HELP_OPTION } };
  // A lenient pass first, so `--help` wins over a bad flag beside it; read as tokens, a `-h`
  // after `--` or given as an option's value is not a request for help.
  const { tokens } = parseArgs({ args: config.args, options: withHelp.options, strict: false, tokens: true });
  if (tokens.some((token) => token.kind === 'option' && token.name === 'help')) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  try {
    return parseArgs(withHelp) as ReturnType<typeof parseArgs<T>>;
  } catch (err) {
    // Only the user's input is reported as such; a malformed options object is the script's bug.
    if (!(err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS_'))) throw err;
    process.stderr.write(`bench ${name}: ${err.message}\n\n${usage}\n`);
    process.exit(2);
  }
}
