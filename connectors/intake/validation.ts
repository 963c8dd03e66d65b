/**
 * Validation of a submitted application against the derived JSON Schema, with every problem
 * reported as a field-level reason (JSON pointer and message), never a stack trace or a value.
 */
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { PermitApplication } from '../../schemas/types.ts';
import { permitApplicationJsonSchema } from './json-schema.ts';
import type { FieldError } from './problem.ts';

// ajv-formats is CommonJS with a default export in its types only.
const addFormats = addFormatsModule as unknown as (typeof addFormatsModule)['default'];

/** More reasons than this help no one and cost CPU on hostile input. */
const MAX_REASONS = 50;

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

export function createApplicationValidator(schema = permitApplicationJsonSchema()): (value: unknown) => ValidationResult {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats(ajv, ['date-time', 'email']);
  const check = ajv.compile(schema);
  return (value) => {
    if (check(value)) return { ok: true, value: value as PermitApplication };
    const seen = new Set<string>();
    const errors: FieldError[] = [];
    for (const e of check.errors ?? []) {
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
