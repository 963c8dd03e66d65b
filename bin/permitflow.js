#!/usr/bin/env node
// Entry for `npx permitflow`: registers the TypeScript loader, then runs the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
