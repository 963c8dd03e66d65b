/**
 * The fields a mapping may write: every leaf of the PermitApplication Avro record, by dotted
 * path, with its value type. Derived from the schema, so a field added to the model can be
 * mapped at once and a typo in a mapping is caught when the mapping loads, not row by row.
 */
import { loadSchema } from '../../schemas/index.ts';

export type LeafType = 'string' | 'double' | 'int' | 'long' | 'boolean';

export interface Target {
  path: string;
  type: LeafType;
  /** No Avro default: a row without it is invalid. */
  required: boolean;
}

type Node = string | Node[] | { type: Node; fields?: { name: string; type: Node; default?: unknown }[]; values?: Node };

function walk(node: Node, path: string, required: boolean, out: Map<string, Target>): void {
  if (Array.isArray(node)) {
    for (const branch of node) if (branch !== 'null') walk(branch, path, false, out);
    return;
  }
  if (typeof node === 'string') {
    if (node === 'string' || node === 'double' || node === 'int' || node === 'long' || node === 'boolean') out.set(path, { path, type: node, required });
    return;
  }
  if (node.type === 'record' && node.fields) {
    for (const f of node.fields) walk(f.type, path ? `${path}.${f.name}` : f.name, required && !('default' in f), out);
    return;
  }
  // Maps (extraFields) take any key below them; the key is checked by the mapping loader.
  if (node.type === 'map') {
    out.set(`${path}.*`, { path: `${path}.*`, type: 'string', required: false });
    return;
  }
  walk(node.type, path, required, out);
}

let cached: Map<string, Target> | undefined;

/** Every mappable leaf of a permit application, by dotted path (`extraFields.*` for the map). */
export function permitTargets(): Map<string, Target> {
  if (!cached) {
    cached = new Map();
    walk(loadSchema('PermitApplication').json as Node, '', true, cached);
  }
  return cached;
}

/** The target a dotted path or JSON pointer names, or undefined. */
export function resolveTarget(path: string): Target | undefined {
  const targets = permitTargets();
  const exact = targets.get(path);
  if (exact) return exact;
  const [head, ...rest] = path.split('.');
  const map = targets.get(`${head}.*`);
  return map && rest.length === 1 && rest[0]!.length > 0 ? { ...map, path } : undefined;
}

/** `/site/address/line1` and `site.address.line1` are the same field. */
export function normalizePath(path: string): string {
  if (!path.startsWith('/')) return path;
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .join('.');
}
