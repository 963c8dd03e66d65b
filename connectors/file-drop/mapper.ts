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
/** A cell that is, or once trimmed may be, formula-like: one test instead of two and a trim for the rest. */
const MAYBE_FORMULA = /^[=+\-@\s]/;
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

/** A code table as a lookup: with ignoreCase, by lower case, the first key of the table winning. */
function compileCodes(table: CodeTable, tableName: string): (value: string) => string {
  let byLowerCase: Map<string, string> | null = null;
  if (table.ignoreCase) {
    byLowerCase = new Map();
    for (const k of Object.keys(table.values)) if (!byLowerCase.has(k.toLowerCase())) byLowerCase.set(k.toLowerCase(), table.values[k]!);
  }
  return (value) => {
    const mapped = byLowerCase ? byLowerCase.get(value.toLowerCase()) : Object.hasOwn(table.values, value) ? table.values[value] : undefined;
    if (mapped !== undefined) return mapped;
    if (table.otherwise !== undefined) return table.otherwise;
    throw new FieldError('PF_IMPORT_UNKNOWN_CODE', `unknown code (code table ${tableName})`);
  };
}

type CoercedType = 'string' | 'number' | 'int' | 'date' | 'datetime';

/** Parsed dates kept per rule: an export repeats its dates (a day's permits share a filed date), and luxon costs ~20 µs a parse. */
const DATE_MEMO_ENTRIES = 10_000;

function compileCoercion(rule: FieldRule, targetType: string): (value: string | number) => string | number {
  const type: CoercedType = rule.type ?? (targetType === 'int' || targetType === 'long' ? 'int' : targetType === 'double' ? 'number' : 'string');
  if (type === 'string') return (value) => String(value);
  if (type === 'number' || type === 'int') {
    return (value) => {
      const n = typeof value === 'number' ? value : NUMBER.test(value) ? Number(value) : NaN;
      if (!Number.isFinite(n)) throw new FieldError('PF_IMPORT_BAD_NUMBER', 'is not a number');
      if (type === 'int' && !Number.isInteger(n)) throw new FieldError('PF_IMPORT_BAD_NUMBER', 'is not a whole number');
      return n;
    };
  }
  // Built once: luxon otherwise re-parses the format string for every row.
  const parsers = rule.formats?.map((f) => DateTime.buildFormatParser(f)) ?? null;
  const zone = memoZone(rule.zone ?? 'UTC');
  const memo = new Map<string, string>();
  const parse = (text: string): DateTime | null => {
    if (!parsers) return DateTime.fromISO(text, { zone, setZone: true });
    for (const p of parsers) {
      const d = DateTime.fromFormatParser(text, p, { zone, setZone: true });
      if (d.isValid) return d;
    }
    return null;
  };
  return (value) => {
    const text = String(value);
    let iso = memo.get(text);
    if (iso === undefined) {
      const parsed = parse(text);
      if (!parsed?.isValid) {
        throw new FieldError('PF_IMPORT_BAD_DATE', `is not a ${type} in ${rule.formats ? `format ${rule.formats.join(' or ')}` : 'ISO 8601 form'}`);
      }
      iso = (type === 'date' ? parsed.toISODate() : parsed.toISO({ suppressMilliseconds: true }))!;
      if (memo.size >= DATE_MEMO_ENTRIES) memo.clear();
      memo.set(text, iso);
    }
    return iso;
  };
}

/**
 * `object` with its keys in sorted order (itself when they already are): rows are built in the
 * order canonical JSON writes them, so hashing them needs no sort (domain/hashing.ts).
 */
function sortedKeys<T extends Record<string, unknown>>(object: T): T {
  const keys = Object.keys(object);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
  if (sorted) return object;
  keys.sort();
  const copy: Record<string, unknown> = {};
  for (const k of keys) copy[k] = object[k];
  return copy as T;
}

/** Dotted paths in the order of their parts, so nested objects are filled in sorted key order. */
function comparePaths(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length - b.length;
}

function setPath(target: Record<string, unknown>, parts: readonly string[], value: unknown): void {
  let node = target;
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) node = (node[parts[i]!] ??= {}) as Record<string, unknown>;
  node[parts[last]!] = value;
}

/** A template as alternating literal text and column names (odd indexes), split once. */
function splitTemplate(template: string): string[] {
  const parts: string[] = [];
  let at = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    parts.push(template.slice(at, m.index), m[1]!);
    at = m.index + m[0].length;
  }
  parts.push(template.slice(at));
  return parts;
}

export function compileMapping(mapping: Mapping): RowMapper {
  const nulls = new Set(mapping.nulls);
  const validate = createApplicationValidator();
  const codes = new Map(Object.entries(mapping.codes).map(([name, table]) => [name, compileCodes(table, name)]));
  const rules = [...mapping.targets].map(([path, rule]) => ({
    path,
    parts: path.split('.'),
    rule,
    columns: sourceColumns(rule),
    template: rule.template === undefined ? null : splitTemplate(rule.template),
    pattern: rule.pattern === undefined ? null : new RegExp(rule.pattern, 'u'),
    codes: rule.codes === undefined ? null : codes.get(rule.codes)!,
    coerce: compileCoercion(rule, resolveTarget(path)!.type),
  }));
  // Rules run in the mapping's order (it orders the reasons of a bad row); their values are set in path order.
  const assembly = rules.map((_, i) => i).sort((a, b) => comparePaths(rules[a]!.parts, rules[b]!.parts));
  const extraColumns = [...mapping.extra].sort();
  const columnsOfPath = new Map(rules.map((r) => [r.path, r.columns]));
  const read = [...new Set([...rules.flatMap((r) => r.columns), ...mapping.extra, ...(mapping.reference ? [mapping.reference] : [])])];

  function cell(cells: Cells, column: string, trim: boolean): string | null {
    const raw = cells(column);
    if (raw === null) return null;
    const value = trim ? raw.trim() : raw;
    return nulls.has(value) ? null : value;
  }

  function valueOf(cells: Cells, { rule, columns, template, pattern, codes }: (typeof rules)[number]): string | number | null {
    let value: string | number | null = null;
    if (rule.const !== undefined) value = rule.const;
    else if (template !== null) {
      // Empty when every placeholder is: literal text alone ("Unit ") is not a value.
      let filled = false;
      let text = template[0]!;
      for (let i = 1; i < template.length; i += 2) {
        const v = cell(cells, template[i]!, rule.trim);
        if (v !== null) {
          filled = true;
          text += v;
        }
        text += template[i + 1]!;
      }
      text = text.replace(/\s+/g, ' ').trim();
      value = filled && text.length > 0 ? text : null;
    } else {
      for (const c of columns) {
        value = cell(cells, c, rule.trim);
        if (value !== null) break;
      }
    }
    if (typeof value === 'string' && pattern !== null) {
      const match = pattern.exec(value);
      if (!match) throw new FieldError('PF_IMPORT_PATTERN', `does not match /${rule.pattern}/`);
      value = match[1] ?? match[0];
    }
    if (typeof value === 'string' && rule.case) value = rule.case === 'upper' ? value.toUpperCase() : value.toLowerCase();
    if (value !== null && codes !== null) value = codes(String(value));
    return value ?? rule.default ?? null;
  }

  return {
    columns: read,
    map(cells) {
      let application: Record<string, unknown> = {};
      const problems: { errorClass: string; message: string; columns: string[] }[] = [];
      const values: (string | number | null)[] = new Array<string | number | null>(rules.length).fill(null);
      for (let i = 0; i < rules.length; i++) {
        const compiled = rules[i]!;
        try {
          const value = valueOf(cells, compiled);
          if (value === null) {
            if (compiled.rule.required) throw new FieldError('PF_IMPORT_REQUIRED', 'is required but empty');
            continue;
          }
          values[i] = compiled.coerce(value);
        } catch (err) {
          if (!(err instanceof FieldError)) throw err;
          problems.push({ errorClass: err.errorClass, message: `${compiled.path} (${describe(compiled.columns)}): ${err.message}`, columns: compiled.columns });
        }
      }
      const extra: Record<string, string> = {};
      for (const c of extraColumns) {
        const v = cell(cells, c, true);
        if (v !== null) extra[c] = v;
      }
      const formulaColumns: string[] = [];
      for (const c of read) {
        const raw = cells(c);
        if (raw !== null && MAYBE_FORMULA.test(raw) && (looksLikeFormula(raw) || looksLikeFormula(raw.trim()))) formulaColumns.push(c);
      }
      if (formulaColumns.length > 0) extra[FORMULA_FLAG] = formulaColumns.join(', ');
      for (const i of assembly) {
        if (values[i] !== null) setPath(application, rules[i]!.parts, values[i]);
      }
      if (Object.keys(extra).length > 0) {
        application.extraFields = sortedKeys({ ...(application.extraFields as Record<string, string> | undefined), ...extra });
        // extraFields was added last: put it in its sorted place among the top-level keys.
        application = sortedKeys(application);
      }

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
