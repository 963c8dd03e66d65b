/**
 * Validation of a submitted application against the derived JSON Schema, with every problem
 * reported as a field-level reason (JSON pointer and message), never a stack trace or a value.
 */
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { PermitApplication } from '../schemas/types.ts';
import { permitApplicationJsonSchema } from './application-schema.ts';

// ajv-formats is CommonJS with a default export in its types only.
const addFormats = addFormatsModule as unknown as (typeof addFormatsModule)['default'];

/** More reasons than this help no one and cost CPU on hostile input. */
const MAX_REASONS = 50;

/** One problem with one field of an application: where (a JSON pointer, RFC 6901) and what, never the value. */
export interface FieldError {
  pointer: string;
  detail: string;
}

export type ValidationResult = { ok: true; value: PermitApplication } | { ok: false; errors: FieldError[] };

function pointerOf(e: ErrorObject): string {
  const params = e.params as { missingProperty?: string; additionalProperty?: string };
  const escape = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');
  if (e.keyword === 'required' && params.missingProperty) return `${e.instancePath}/${escape(params.missingProperty)}`;
  if (e.keyword === 'additionalProperties' && params.additionalProperty) return `${e.instancePath}/${escape(params.additionalProperty)}`;
  return e.instancePath;
}

function detailOf(e: ErrorObject): string {
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'additionalProperties') return 'is not a field of a permit application';
  return e.message ?? 'is invalid';
}

/**
 * Whether `value` has at most `limit` nodes (values and keys), walking no further than that: the
 * walk costs O(limit) whatever the size of the value.
 */
export function hasAtMostNodes(value: unknown, limit: number): boolean {
  let budget = limit;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (--budget < 0) return false;
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      if (node.length > budget) return false;
      stack.push(...(node as unknown[]));
      continue;
    }
    const keys = Object.keys(node);
    if (2 * keys.length > budget) return false;
    budget -= keys.length;
    for (const k of keys) stack.push((node as Record<string, unknown>)[k]);
  }
  return true;
}

/**
 * Values up to this many nodes get every problem reported; larger ones only the first. With
 * `allErrors`, ajv builds an error object per failing node: 1.4 million `extraFields` keys took
 * the intake from 127 MB to 1.9 GB (issue 14). A real application has a few hundred nodes.
 */
const FULL_REPORT_MAX_NODES = 2000;

export function createApplicationValidator(schema = permitApplicationJsonSchema()): (value: unknown) => ValidationResult {
  const options = { strict: true, allowUnionTypes: true } as const;
  // The first check stops at the first problem, so hostile input costs no more than valid input.
  const firstProblem = new Ajv2020({ ...options, allErrors: false });
  const everyProblem = new Ajv2020({ ...options, allErrors: true });
  addFormats(firstProblem, ['date-time', 'email']);
  addFormats(everyProblem, ['date-time', 'email']);
  const check = firstProblem.compile(schema);
  const report = everyProblem.compile(schema);
  return (value) => {
    if (check(value)) return { ok: true, value: value as PermitApplication };
    const found = hasAtMostNodes(value, FULL_REPORT_MAX_NODES) && !report(value) ? report.errors : check.errors;
    const seen = new Set<string>();
    const errors: FieldError[] = [];
    for (const e of found ?? []) {
      const error = { pointer: pointerOf(e), detail: detailOf(e) };
      const key = `${error.pointer}\u0000${error.detail}`;
      if (seen.has(key)) continue;
      seen.add(key);
      errors.push(error);
      if (errors.length >= MAX_REASONS) break;
    }
    return { ok: false, errors };
  };
}
