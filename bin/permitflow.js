#!/usr/bin/env node
// Entry for `npx permitflow`: registers the TypeScript loader, then runs the CLI.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every start that releases after January 2027 will need Node 22; the
// project pins its SDK version, so the notice is noise here (see README, runtime versions).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
await import('../cli/main.ts');
