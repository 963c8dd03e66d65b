/**
 * Jurisdiction rule sets: versioned YAML files under `rules/<jurisdiction>/<version>.yaml`,
 * checked against `rules/rule-set.schema.json` when loaded. A bad file stops the process at
 * start-up with every problem listed, each naming the file and the JSON pointer of the value
 * (a validator that silently skipped a rule would accept what it should reject).
 *
 * The version in force on an application's date applies; findings carry its id
 * (`<jurisdiction>@<version>`) and the decider looks the same version up by that id, so a
 * replayed submission is decided by the rules it was validated with.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { ConfigError, REPO_ROOT } from '../../lib/config.ts';

export type Severity = 'ERROR' | 'WARNING' | 'INFO';
export type ReviewTrack = 'express' | 'standard' | 'major';
export type OverlayKind = 'special-flood-hazard-area' | 'floodway' | 'historic-district' | 'environmental';

/** Narrows a rule: each list is "any of", all lists given must hold. */
export interface When {
  permitTypes?: string[];
  permitClasses?: string[];
  workClasses?: string[];
}

export interface RequiredFieldRule {
  field?: string;
  anyOf?: string[];
  when?: When;
  message?: string;
}

export interface RequiredAttachmentRule {
  kind: string;
  when?: When;
  message: string;
}

export interface ValueRangeRule {
  field: string;
  min?: number;
  max?: number;
  when?: When;
  message?: string;
}

export interface OverlayRule {
  code: string;
  overlay: OverlayKind;
  environmentalTypes?: string[];
  when?: When;
  requireAttachment?: string;
  severity: Severity;
  message: string;
}

export interface TrackRule {
  track: ReviewTrack;
  when?: When;
  anyFinding?: string[];
  minValuation?: number;
  maxValuation?: number;
  noWarnings?: boolean;
}

/** A rule-set file, as `rules/rule-set.schema.json` describes it. */
export interface RuleSetFile {
  jurisdiction: string;
  version: string;
  effectiveFrom: string;
  adoptedBy?: string;
  currency: string;
  permitTypes: string[];
  requiredFields: RequiredFieldRule[];
  requiredAttachments: RequiredAttachmentRule[];
  valueRanges: ValueRangeRule[];
  zoning: { useField: string; workClasses: string[]; districts: Record<string, { uses: string[] }> };
  overlays: OverlayRule[];
  fees: { toleranceCents: number; overpaidSeverity: Severity | 'NONE' };
  activePermits: { statuses: string[]; severity: Severity };
  decision: { reviewTracks: TrackRule[]; defaultTrack: ReviewTrack };
}

export interface RuleSet extends RuleSetFile {
  /** `<jurisdiction>@<version>`: what findings carry as ruleSetVersion. */
  id: string;
  path: string;
}

export interface RuleSets {
  /** The version in force on `date` (YYYY-MM-DD); a date before every version gets the oldest. */
  inForce(jurisdiction: string, date: string): RuleSet | undefined;
  /** A version by the id findings carry. */
  byId(id: string): RuleSet | undefined;
  all(): RuleSet[];
}

export const RULE_SET_SCHEMA_PATH = join(REPO_ROOT, 'rules', 'rule-set.schema.json');

let compiled: ReturnType<Ajv2020['compile']> | undefined;
function schemaValidator(): ReturnType<Ajv2020['compile']> {
  // strictRequired off: `oneOf: [{ required: [field] }, { required: [anyOf] }]` names properties declared beside it.
  compiled ??= new Ajv2020({ allErrors: true, strict: true, strictRequired: false }).compile(JSON.parse(readFileSync(RULE_SET_SCHEMA_PATH, 'utf8')) as object);
  return compiled;
}

function describe(error: ErrorObject): string {
  const where = error.instancePath || '/';
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `${where}: unknown property "${String(params.additionalProperty)}"`;
  if (error.keyword === 'enum') return `${where}: must be one of ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
  return `${where}: ${error.message ?? 'is invalid'}`;
}

/** Checks beyond the JSON Schema's reach; each problem is a pointer and a message. */
function semanticProblems(file: RuleSetFile, path: string): string[] {
  const problems: string[] = [];
  const folder = basename(join(path, '..'));
  if (file.jurisdiction !== folder) problems.push(`/jurisdiction: "${file.jurisdiction}" differs from its folder "${folder}"`);
  if (`${file.version}.yaml` !== basename(path)) problems.push(`/version: "${file.version}" differs from the file name`);
  file.valueRanges.forEach((r, i) => {
    if (r.min !== undefined && r.max !== undefined && r.min > r.max) problems.push(`/valueRanges/${i}: min ${r.min} is above max ${r.max}`);
  });
  file.decision.reviewTracks.forEach((r, i) => {
    if (r.minValuation !== undefined && r.maxValuation !== undefined && r.minValuation > r.maxValuation) problems.push(`/decision/reviewTracks/${i}: minValuation is above maxValuation`);
  });
  return problems;
}

/** Parses and checks one rule-set file; throws a ConfigError naming the file and each bad path. */
export function parseRuleSet(text: string, path: string): RuleSet {
  const shown = relative(REPO_ROOT, path) || path;
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError([`${shown}: not valid YAML: ${(err as Error).message}`]);
  }
  const validate = schemaValidator();
  if (!validate(raw)) throw new ConfigError((validate.errors ?? []).map((e) => `${shown}: ${describe(e)}`));
  const file = raw as RuleSetFile;
  const problems = semanticProblems(file, path);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${shown}: ${p}`));
  return { ...file, id: `${file.jurisdiction}@${file.version}`, path };
}

export function ruleSetsFrom(sets: RuleSet[]): RuleSets {
  const byJurisdiction = new Map<string, RuleSet[]>();
  for (const set of sets) byJurisdiction.set(set.jurisdiction, [...(byJurisdiction.get(set.jurisdiction) ?? []), set]);
  // Newest first, so the first version not after the date is the one in force.
  for (const list of byJurisdiction.values()) list.sort((a, b) => b.effectiveFrom.localeCompare(a.effectiveFrom));
  const byId = new Map(sets.map((s) => [s.id, s]));
  return {
    inForce(jurisdiction, date) {
      const list = byJurisdiction.get(jurisdiction);
      return list?.find((s) => s.effectiveFrom <= date) ?? list?.[list.length - 1];
    },
    byId: (id) => byId.get(id),
    all: () => [...sets],
  };
}

/** Loads every `<jurisdiction>/<version>.yaml` under `dir`; lists every problem of every file at once. */
export function loadRuleSets(dir: string): RuleSets {
  if (!existsSync(dir)) throw new ConfigError([`RULES_DIR=${dir}: no such directory`]);
  const problems: string[] = [];
  const sets: RuleSet[] = [];
  for (const jurisdiction of readdirSync(dir).sort()) {
    const folder = join(dir, jurisdiction);
    if (!statSync(folder).isDirectory()) continue;
    for (const name of readdirSync(folder).filter((n) => n.endsWith('.yaml')).sort()) {
      try {
        sets.push(parseRuleSet(readFileSync(join(folder, name), 'utf8'), join(folder, name)));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(...err.problems);
      }
    }
  }
  const seen = new Map<string, string>();
  for (const s of sets) {
    const key = `${s.jurisdiction} ${s.effectiveFrom}`;
    if (seen.has(key)) problems.push(`${relative(REPO_ROOT, s.path)}: /effectiveFrom: ${s.effectiveFrom} is also the date of ${seen.get(key)}`);
    seen.set(key, relative(REPO_ROOT, s.path));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (sets.length === 0) throw new ConfigError([`RULES_DIR=${dir}: no rule sets (<jurisdiction>/<version>.yaml)`]);
  return ruleSetsFrom(sets);
}
