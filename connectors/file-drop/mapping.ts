/**
 * Column mappings: one YAML file per source system, saying how a legacy export's columns become
 * a permit application. Validated once at load, with every problem named by file and path, so
 * a broken mapping fails before the first row rather than as a million bad rows.
 *
 * ```yaml
 * name: sf-dbi-building-permits      # sourceClient of every envelope
 * format: csv                        # csv | jsonl
 * encoding: auto                     # auto | utf-8 | windows-1252
 * reference: Permit Number           # envelope sourceReference (else <file>:<line>)
 * fields:                            # target (dotted path or JSON pointer) -> rule
 *   jurisdiction: { const: us-ca-san-francisco }
 *   permitType: { column: Permit Type, codes: permitType, required: true }
 *   appliedAt: { column: Filed Date, type: datetime, formats: ['MM/dd/yyyy hh:mm:ss a'], zone: America/Los_Angeles }
 *   site.address.line1: { template: '{Street Number} {Street Name} {Street Suffix}', required: true }
 *   project.estimatedCost: { column: [Estimated Cost, Revised Cost], default: 0 }
 * codes:
 *   permitType: { values: { '1': Building, '6': Demolition }, otherwise: Other }
 * extra: [Current Status]            # copied verbatim into extraFields
 * ```
 * A rule takes its value from `column` (the first non-empty of a list), a `template` of
 * `{Column}` placeholders, or a `const`; then `trim` (default on), `pattern` (a regex whose first
 * group, or whole match, is kept), `case`, a code table, `default` when empty, and `type`
 * coercion (inferred from the target; `date`/`datetime` parse the luxon `formats` in `zone`).
 */
import { readFileSync } from 'node:fs';
import { IANAZone } from 'luxon';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { canonicalPayload } from '../../domain/hashing.ts';
import { PermitflowError } from '../../lib/errors.ts';
import { normalizePath, permitTargets, resolveTarget } from './targets.ts';

const column = z.string().min(1, { message: 'expected a column name' });
const scalar = z.union([z.string(), z.number()]);

const fieldRule = z
  .object({
    column: z.union([column, z.array(column).min(1)]).optional(),
    template: z.string().min(1).optional(),
    const: scalar.optional(),
    type: z.enum(['string', 'number', 'int', 'date', 'datetime']).optional(),
    formats: z.array(z.string().min(1)).min(1).optional(),
    zone: z.string().refine((z) => IANAZone.isValidZone(z), { message: 'expected an IANA time zone such as America/Los_Angeles' }).optional(),
    pattern: z
      .string()
      .refine((p) => {
        try {
          return new RegExp(p, 'u').source.length > 0;
        } catch {
          return false;
        }
      }, { message: 'expected a valid regular expression' })
      .optional(),
    trim: z.boolean().default(true),
    case: z.enum(['upper', 'lower']).optional(),
    codes: z.string().min(1).optional(),
    default: scalar.optional(),
    required: z.boolean().default(false),
  })
  .strict()
  .refine((r) => [r.column, r.template, r.const].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of column, template or const' })
  .refine((r) => r.formats === undefined || r.type === 'date' || r.type === 'datetime', { message: 'formats apply to type date or datetime only', path: ['formats'] })
  .refine((r) => r.zone === undefined || r.type === 'datetime', { message: 'zone applies to type datetime only', path: ['zone'] });

const codeTable = z
  .object({
    values: z.record(z.string(), z.string()),
    /** Value for a code the table does not list; without it an unknown code is a bad row. */
    otherwise: z.string().optional(),
    ignoreCase: z.boolean().default(false),
  })
  .strict();

const mappingSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, { message: 'expected a lower-case name (letters, digits, . _ -)' }),
    description: z.string().optional(),
    /** Where the export comes from (documentation). */
    source: z.string().optional(),
    format: z.enum(['csv', 'jsonl']).default('csv'),
    encoding: z.enum(['auto', 'utf-8', 'windows-1252']).default('auto'),
    csv: z
      .object({
        delimiter: z.string().length(1).default(','),
        quote: z.string().length(1).default('"'),
        /** Column names when the export has no header row. */
        columns: z.array(column).min(1).optional(),
      })
      .strict()
      .default({}),
    /** Cell values that mean "empty" (after trimming). */
    nulls: z.array(z.string()).default(['']),
    reference: column.optional(),
    fields: z.record(z.string(), fieldRule),
    codes: z.record(z.string(), codeTable).default({}),
    extra: z.array(column).default([]),
  })
  .strict();

export type FieldRule = z.infer<typeof fieldRule>;
export type CodeTable = z.infer<typeof codeTable>;
export type Mapping = z.infer<typeof mappingSchema> & {
  /** Dotted paths of `fields`, normalised. */
  targets: Map<string, FieldRule>;
  /** SHA-256 of the parsed mapping: an import resumes only under the mapping it started with. */
  digest: string;
  file: string;
};

function invalid(file: string, problems: string[]): PermitflowError {
  return PermitflowError.permanent('PF_MAPPING_INVALID', `${file}: invalid mapping:\n  ${problems.join('\n  ')}`, { context: { file, problems } });
}

function crossCheck(m: z.infer<typeof mappingSchema>): { problems: string[]; targets: Map<string, FieldRule> } {
  const problems: string[] = [];
  const targets = new Map<string, FieldRule>();
  for (const [raw, rule] of Object.entries(m.fields)) {
    const path = normalizePath(raw);
    const target = resolveTarget(path);
    if (!target) {
      problems.push(`fields.${raw}: PermitApplication has no field ${path}`);
      continue;
    }
    if (targets.has(path)) problems.push(`fields.${raw}: ${path} is mapped twice`);
    targets.set(path, rule);
    const numeric = target.type === 'double' || target.type === 'int' || target.type === 'long';
    if (rule.type !== undefined) {
      const fits = numeric ? rule.type === 'number' || rule.type === 'int' : rule.type !== 'number' && rule.type !== 'int';
      if (!fits || (target.type === 'int' && rule.type === 'number')) problems.push(`fields.${raw}.type: ${rule.type} does not fit ${path}, a ${target.type}`);
    }
    if (rule.codes !== undefined && !(rule.codes in m.codes)) problems.push(`fields.${raw}.codes: no code table named ${rule.codes} under codes`);
    if (rule.pattern !== undefined && new RegExp(`${rule.pattern}|`, 'u').exec('')!.length > 2) problems.push(`fields.${raw}.pattern: use at most one capture group`);
  }
  for (const t of permitTargets().values()) {
    if (t.required && !targets.has(t.path)) problems.push(`fields: PermitApplication requires ${t.path}; map it (a const or a default will do)`);
  }
  return { problems, targets };
}

/** Parses and validates mapping YAML; `file` names the source in every message. */
export function parseMapping(text: string, file: string): Mapping {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw invalid(file, doc.errors.map((e) => `line ${e.linePos?.[0].line ?? '?'}, column ${e.linePos?.[0].col ?? '?'}: ${e.message.split('\n')[0]}`));
  }
  const raw: unknown = doc.toJS();
  const parsed = mappingSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '<root>'}: ${i.message}`);
    // Unknown target fields are worth reporting in the same pass, whatever else is wrong.
    const fields = (raw as { fields?: unknown } | null)?.fields;
    if (fields !== null && typeof fields === 'object') {
      for (const key of Object.keys(fields)) if (!resolveTarget(normalizePath(key))) problems.push(`fields.${key}: PermitApplication has no field ${normalizePath(key)}`);
    }
    throw invalid(file, problems);
  }
  const { problems, targets } = crossCheck(parsed.data);
  if (problems.length > 0) throw invalid(file, problems);
  return { ...parsed.data, targets, digest: canonicalPayload(parsed.data).hash, file };
}

export function loadMapping(file: string): Mapping {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw PermitflowError.permanent('PF_MAPPING_INVALID', `${file}: cannot read the mapping (${(err as Error).message})`, { cause: err });
  }
  return parseMapping(text, file);
}
