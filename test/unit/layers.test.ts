/**
 * The layers (issue 12): processors and connectors meet only through the neutral modules
 * (domain/ for ports and pure helpers, lib/, schemas/, topology/); the wiring that builds
 * connectors for processors is cli/. topology/ reads the processors' declarations
 * (`processors/<name>/topology.ts`), which import nothing but topology/contract.ts. Every
 * relative import, static or dynamic, is checked.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../lib/config.ts';

/** Top-level folder -> folders it must never import from. */
const FORBIDDEN: Record<string, string[]> = {
  processors: ['connectors', 'cli'],
  connectors: ['processors', 'cli'],
  domain: ['processors', 'connectors', 'cli', 'topology', 'ops'],
  lib: ['processors', 'connectors', 'cli', 'domain'],
  topology: ['processors', 'connectors', 'cli'],
  schemas: ['processors', 'connectors', 'cli', 'topology'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(REPO_ROOT, join(entry.parentPath, entry.name)));
}

/** The top-level folders a file's relative imports (`import ... from`, `export ... from`, `import()`) point into. */
export function importedFolders(file: string, text: string): Array<{ specifier: string; target: string; folder: string }> {
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm)].map((m) => m[2]!);
  return specifiers.map((specifier) => {
    const target = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), specifier));
    return { specifier, target, folder: target.split('/')[0]! };
  });
}

/** A processor's declaration: the one part of processors/ that topology/ may read. */
const DECLARATION = /^processors\/[^/]+\/topology\.ts$/;

function violations(): string[] {
  const found: string[] = [];
  for (const [layer, forbidden] of Object.entries(FORBIDDEN)) {
    for (const file of sourceFiles(layer)) {
      for (const { specifier, target, folder } of importedFolders(file, readFileSync(join(REPO_ROOT, file), 'utf8'))) {
        if (layer === 'topology' && DECLARATION.test(target)) continue;
        if (forbidden.includes(folder)) found.push(`${file} imports ${specifier} (${layer}/ must not import ${folder}/)`);
      }
    }
  }
  for (const file of sourceFiles('processors').filter((f) => DECLARATION.test(f))) {
    for (const { specifier, target } of importedFolders(file, readFileSync(join(REPO_ROOT, file), 'utf8'))) {
      if (target !== 'topology/contract.ts') found.push(`${file} imports ${specifier} (a declaration imports only topology/contract.ts)`);
    }
  }
  return found;
}

test('no processor imports a connector, no connector imports a processor, the neutral modules import neither', () => {
  assert.deepEqual(violations(), []);
});

test('the check sees static, re-exported and dynamic imports', () => {
  const file = 'processors/x/index.ts';
  const text = [
    "import { a } from '../../connectors/claim-check.ts';",
    "export { b } from '../../connectors/dlq.ts';",
    "const c = await import('../../cli/processors.ts');",
    "import type { D } from '../../domain/ports.ts';",
  ].join('\n');
  assert.deepEqual(
    importedFolders(file, text).map((i) => i.folder),
    ['connectors', 'connectors', 'cli', 'domain'],
  );
});
