/**
 * PDF form mappings: one YAML file per jurisdiction form, in the file drop's mapping format
 * (connectors/file-drop/mapping.ts: `fields` rules, `codes` tables, coercion, `required`), with
 * one more section, `form`, saying where each "column" is read from:
 *
 * ```yaml
 * name: nj-ucc-f100
 * form:
 *   title: [construction, permit, application]  # words that identify a scan of this form (OCR of page 1)
 *   columns:                                     # AcroForm field name -> where a scan shows it
 *     Proposed Work Site: { page: 1, region: [0.27, 0.185, 0.26, 0.03] }   # left, top, width, height (0-1, upright page)
 *     New Bldg: { page: 1, region: [0.33, 0.4, 0.015, 0.02], checkbox: true }
 * fields:
 *   site.address.line1: { column: Proposed Work Site, pattern: '^([^,]+)', required: true }
 * ```
 *
 * A filled form is read by its AcroForm field names (the columns); a page without form fields
 * is rasterised and each column read by OCR from its region. A checked box reads as its own
 * column name, so a list of boxes picks the first one ticked and a code table names it.
 * Validated once at load, like an import mapping; `required` fields are the ones whose
 * confidence is checked (EXTRACTION_NEEDS_REVIEW below the threshold).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { z } from 'zod';
import { PermitflowError } from '../../lib/errors.ts';
import { compileMapping, type RowMapper } from '../file-drop/mapper.ts';
import { parseMapping, type FieldRule, type Mapping } from '../file-drop/mapping.ts';

const fraction = z.number().min(0).max(1);

const column = z
  .object({
    /** 1-based page the column is printed on. */
    page: z.number().int().positive(),
    /** left, top, width, height as fractions of the upright page. */
    region: z.tuple([fraction, fraction, fraction, fraction]).refine(([l, t, w, h]) => w > 0 && h > 0 && l + w <= 1 && t + h <= 1, { message: 'expected left, top, width, height inside the page' }),
    checkbox: z.boolean().default(false),
  })
  .strict();

const formSection = z
  .object({
    /** Lower-case words that all appear in the OCR text of page 1 of a scan of this form. */
    title: z.array(z.string().regex(/^[a-z0-9]+$/, { message: 'expected lower-case words' })).min(1),
    columns: z.record(z.string().min(1), column),
  })
  .strict();

export type FormColumn = z.infer<typeof column>;

export interface FormMapping {
  name: string;
  file: string;
  title: string[];
  columns: Map<string, FormColumn>;
  /** The import mapping the columns feed: rules, code tables, coercion. */
  mapping: Mapping;
  mapper: RowMapper;
  /** Application field (dotted path) -> the columns it is read from, for the required fields. */
  required: Map<string, string[]>;
}

function invalid(file: string, problems: string[]): PermitflowError {
  return PermitflowError.permanent('PF_FORM_MAPPING_INVALID', `${file}: invalid form mapping:\n  ${problems.join('\n  ')}`, { context: { file, problems } });
}

/** The columns a rule reads: its column list, or its template's placeholders. */
export const columnsOfRule = (rule: FieldRule): string[] => {
  if (rule.column !== undefined) return Array.isArray(rule.column) ? rule.column : [rule.column];
  if (rule.template !== undefined) return [...rule.template.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1]!);
  return [];
};

export function parseFormMapping(text: string, file: string): FormMapping {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) throw invalid(file, doc.errors.map((e) => e.message.split('\n')[0]!));
  const raw = doc.toJS() as Record<string, unknown> | null;
  if (raw === null || typeof raw !== 'object') throw invalid(file, ['<root>: expected a mapping']);
  const { form, ...importPart } = raw;
  const parsedForm = formSection.safeParse(form);
  const problems = parsedForm.success ? [] : parsedForm.error.issues.map((i) => `form.${i.path.join('.')}: ${i.message}`);
  // The rest is an import mapping, validated by the importer's own loader (same messages, same rules).
  let mapping: Mapping | undefined;
  try {
    mapping = parseMapping(stringify(importPart), file);
  } catch (err) {
    const context = (err as PermitflowError).context as { problems?: string[] } | undefined;
    problems.push(...(context?.problems ?? [(err as Error).message]));
  }
  if (!parsedForm.success || !mapping) throw invalid(file, problems);
  const columns = new Map(Object.entries(parsedForm.data.columns));
  const required = new Map<string, string[]>();
  for (const [path, rule] of mapping.targets) {
    const read = columnsOfRule(rule);
    for (const c of read) if (!columns.has(c)) problems.push(`fields.${path}: column ${JSON.stringify(c)} has no entry under form.columns (page and region for scans)`);
    if (rule.required) required.set(path, read);
  }
  if (problems.length > 0) throw invalid(file, problems);
  return { name: mapping.name, file, title: parsedForm.data.title, columns, mapping, mapper: compileMapping(mapping), required };
}

/** Every `*.yaml` form mapping of a folder, validated; a bad one fails the whole load. */
export function loadFormMappings(dir: string): FormMapping[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  const forms = files.map((f) => parseFormMapping(readFileSync(join(dir, f), 'utf8'), join(dir, f)));
  const names = new Set<string>();
  for (const f of forms) {
    if (names.has(f.name)) throw invalid(f.file, [`name: ${f.name} is used by another form mapping`]);
    names.add(f.name);
  }
  return forms;
}
