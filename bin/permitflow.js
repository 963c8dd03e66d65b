#!/usr/bin/env node
// Entry for `permitflow`: registers the TypeScript loader, then runs the CLI. tsx, not Node 24's
// own type stripping: measured, it starts `--help` faster and smaller (its transform cache) and
// is even on a processor's start (see the README, runtime).
import { register } from 'tsx/esm/api';

// kafkajs 2.2.4 (unmaintained) arms its request-queue timer with a negative delay on every
// response (tulios/kafkajs#1751); Node 24 warns each time. The delay was and is 1 ms.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning, ...rest) => {
  if (rest[0] === 'TimeoutNegativeWarning') return;
  emitWarning(warning, ...rest);
};

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
