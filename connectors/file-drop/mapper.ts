/**
 * Applies a mapping to one row: cells in, a permit application (or the precise reasons it
 * cannot be one) out. Pure: no I/O, the same row always maps to the same application, so its
 * canonical hash is stable across re-imports and resumed imports.
 *
 * The application is then held to the same JSON Schema as HTTP submissions (the intake's
 * validator), so a file-drop row is never accepted on weaker terms than a portal submission.
 *
 * Formula injection: a cell that a spreadsheet would run (starting with = + - @, tab or CR, as
 * OWASP lists them) is never evaluated here; the row is flagged with the columns concerned in
 * `extraFields["permitflow.formulaCells"]`, so whoever exports the data to a spreadsheet later
 * knows to neutralise them. Signed numbers and phone numbers (`-12.5`, `+1 206 555 0100`) are
 * data, not formulas, and are not flagged.
 */
import { DateTime } from 'luxon';
import { createApplicationValidator } from '../../domain/application-validator.ts';
import type { PermitApplication } from '../../schemas/types.ts';
import type { CodeTable, FieldRule, Mapping } from './mapping.ts';
import { resolveTarget } from './targets.ts';
import { memoZone } from './zones.ts';

export const FORMULA_FLAG = 'permitflow.formulaCells';

/** A row's cells by column name; null when the column is absent. */
export type Cells = (column: string) => string | null;

export type RowOutcome =
  | { ok: true; application: PermitApplication; reference: string | null; formulaColumns: string[] }
  | { ok: false; errorClass: string; message: string; columns: string[] };

export interface RowMapper {
  /** Every column the mapping reads (a CSV header must have them all). */
  columns: string[];
  map(cells: Cells): RowOutcome;
}

const FORMULA_START = /^[=+\-@\t\r]/;
const SIGNED_NUMBER = /^[+-][\d\s().,-]*$/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const PLACEHOLDER = /\{([^{}]+)\}/g;

export function looksLikeFormula(cell: string): boolean {
  return FORMULA_START.test(cell) && !SIGNED_NUMBER.test(cell);
}

/**
 * Why a cell cannot be used: the field, the column and the rule, never the cell's value (reasons
 * reach reports and terminals; the dead letter keeps the row's text).
 */
class FieldError extends Error {
  constructor(
    readonly errorClass: string,
    message: string,
  ) {
    super(message);
  }
}

function sourceColumns(rule: FieldRule): string[] {
  if (rule.column !== undefined) return Array.isArray(rule.column) ? rule.column : [rule.column];
  if (rule.template !== undefined) return [...rule.template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  return [];
}

const describe = (columns: string[]) => (columns.length === 0 ? 'constant' : columns.map((c) => `column '${c}'`).join(' / '));

function lookup(table: CodeTable, tableName: string, value: string): string {
  const key = table.ignoreCase ? Object.keys(table.values).find((k) => k.toLowerCase() === value.toLowerCase()) : value;
  const mapped = key === undefined ? undefined : table.values[key];
  if (mapped !== undefined) return mapped;
  if (table.otherwise !== undefined) return table.otherwise;
  throw new FieldError('PF_IMPORT_UNKNOWN_CODE', `unknown code (code table ${tableName})`);
}

function coerce(rule: FieldRule, parsers: ReturnType<typeof DateTime.buildFormatParser>[] | null, targetType: string, value: string | number): string | number {
  const type = rule.type ?? (targetType === 'int' || targetType === 'long' ? 'int' : targetType === 'double' ? 'number' : 'string');
  if (type === 'string') return String(value);
  const text = String(value);
  if (type === 'number' || type === 'int') {
    const n = typeof value === 'number' ? value : NUMBER.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(n)) throw new FieldError('PF_IMPORT_BAD_NUMBER', 'is not a number');
    if (type === 'int' && !Number.isInteger(n)) throw new FieldError('PF_IMPORT_BAD_NUMBER', 'is not a whole number');
    return n;
  }
  const zone = memoZone(rule.zone ?? 'UTC');
  const parsed = parsers
    ? parsers.map((p) => DateTime.fromFormatParser(text, p, { zone, setZone: true })).find((d) => d.isValid)
    : DateTime.fromISO(text, { zone, setZone: true });
  if (!parsed?.isValid) {
    throw new FieldError('PF_IMPORT_BAD_DATE', `is not a ${type} in ${rule.formats ? `format ${rule.formats.join(' or ')}` : 'ISO 8601 form'}`);
  }
  return type === 'date' ? parsed.toISODate() : parsed.toISO({ suppressMilliseconds: true });
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

export function compileMapping(mapping: Mapping): RowMapper {
  const nulls = new Set(mapping.nulls);
  const validate = createApplicationValidator();
  const rules = [...mapping.targets].map(([path, rule]) => ({
    path,
    rule,
    target: resolveTarget(path)!,
    columns: sourceColumns(rule),
    pattern: rule.pattern === undefined ? null : new RegExp(rule.pattern, 'u'),
    // Built once: luxon otherwise re-parses the format string for every row.
    parsers: rule.formats?.map((f) => DateTime.buildFormatParser(f)) ?? null,
  }));
  const columnsOfPath = new Map(rules.map((r) => [r.path, r.columns]));
  const read = [...new Set([...rules.flatMap((r) => r.columns), ...mapping.extra, ...(mapping.reference ? [mapping.reference] : [])])];

  function cell(cells: Cells, column: string, trim: boolean): string | null {
    const raw = cells(column);
    if (raw === null) return null;
    const value = trim ? raw.trim() : raw;
    return nulls.has(value) ? null : value;
  }

  function valueOf(cells: Cells, rule: FieldRule, columns: string[], pattern: RegExp | null): string | number | null {
    let value: string | number | null;
    if (rule.const !== undefined) value = rule.const;
    else if (rule.template !== undefined) {
      // Empty when every placeholder is: literal text alone ("Unit ") is not a value.
      let filled = false;
      const text = rule.template
        .replace(PLACEHOLDER, (_, c: string) => {
          const v = cell(cells, c, rule.trim);
          filled ||= v !== null;
          return v ?? '';
        })
        .replace(/\s+/g, ' ')
        .trim();
      value = filled && text.length > 0 ? text : null;
    } else value = columns.map((c) => cell(cells, c, rule.trim)).find((v) => v !== null) ?? null;
    if (typeof value === 'string' && pattern !== null) {
      const match = pattern.exec(value);
      if (!match) throw new FieldError('PF_IMPORT_PATTERN', `does not match /${rule.pattern}/`);
      value = match[1] ?? match[0];
    }
    if (typeof value === 'string' && rule.case) value = rule.case === 'upper' ? value.toUpperCase() : value.toLowerCase();
    if (value !== null && rule.codes !== undefined) value = lookup(mapping.codes[rule.codes]!, rule.codes, String(value));
    return value ?? rule.default ?? null;
  }

  return {
    columns: read,
    map(cells) {
      const application: Record<string, unknown> = {};
      const problems: { errorClass: string; message: string; columns: string[] }[] = [];
      for (const { path, rule, target, columns, pattern, parsers } of rules) {
        try {
          const value = valueOf(cells, rule, columns, pattern);
          if (value === null) {
            if (rule.required) throw new FieldError('PF_IMPORT_REQUIRED', 'is required but empty');
            continue;
          }
          setPath(application, path, coerce(rule, parsers, target.type, value));
        } catch (err) {
          if (!(err instanceof FieldError)) throw err;
          problems.push({ errorClass: err.errorClass, message: `${path} (${describe(columns)}): ${err.message}`, columns });
        }
      }
      const extra: Record<string, string> = {};
      for (const c of mapping.extra) {
        const v = cell(cells, c, true);
        if (v !== null) extra[c] = v;
      }
      const formulaColumns = read.filter((c) => {
        const raw = cells(c);
        return raw !== null && (looksLikeFormula(raw) || looksLikeFormula(raw.trim()));
      });
      if (formulaColumns.length > 0) extra[FORMULA_FLAG] = formulaColumns.join(', ');
      if (Object.keys(extra).length > 0) application.extraFields = { ...(application.extraFields as Record<string, string> | undefined), ...extra };

      if (problems.length === 0) {
        const result = validate(application);
        if (!result.ok) {
          for (const e of result.errors) {
            const path = e.pointer.slice(1).replaceAll('/', '.');
            const columns = columnsOfPath.get(path) ?? [];
            problems.push({ errorClass: 'PF_IMPORT_INVALID_ROW', message: `${path || '<application>'} (${describe(columns)}): ${e.detail}`, columns });
          }
        }
      }
      if (problems.length > 0) {
        return { ok: false, errorClass: problems[0]!.errorClass, message: problems.map((p) => p.message).join('; '), columns: [...new Set(problems.flatMap((p) => p.columns))] };
      }
      const reference = mapping.reference ? cell(cells, mapping.reference, true) : null;
      return { ok: true, application: application as unknown as PermitApplication, reference, formulaColumns };
    },
  };
}
