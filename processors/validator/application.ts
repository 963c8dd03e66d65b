/**
 * The application as the rules see it: parsed JSON read through JSON pointers, never trusted
 * to have any field. Inter-agency producers write the raw topic without the intake's JSON
 * Schema, so a missing or mistyped field must become a finding, not a crash.
 */
import type { PayloadSource } from '../../domain/ports.ts';
import { PermitflowError } from '../../lib/errors.ts';
import type { PayloadRef } from '../../schemas/types.ts';
import type { When } from './rule-set.ts';

export type { PayloadSource };

/** Loads and parses the application; bytes that are not a JSON object cannot be validated (DLQ). */
export async function readApplication(payloads: PayloadSource, ref: PayloadRef): Promise<Record<string, unknown>> {
  const bytes = await payloads.load(ref);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw PermitflowError.permanent('PF_PAYLOAD_NOT_JSON', `payload ${ref.sha256} is not JSON`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw PermitflowError.permanent('PF_PAYLOAD_NOT_APPLICATION', `payload ${ref.sha256} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Pointers come from the rule sets and the code: a bounded set, each split and unescaped once. */
const pointerKeys = new Map<string, string[]>();
const MAX_REMEMBERED_POINTERS = 10_000;

function keysOf(pointer: string): string[] {
  let keys = pointerKeys.get(pointer);
  if (!keys) {
    keys = pointer
      .split('/')
      .slice(1)
      .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (pointerKeys.size < MAX_REMEMBERED_POINTERS) pointerKeys.set(pointer, keys);
  }
  return keys;
}

/** RFC 6901: the value at `pointer`, or undefined. */
export function valueAt(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const key of keysOf(pointer)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Present means something an officer could read: not absent, null, blank or empty. */
export function isPresent(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'string') return value.trim() !== '';
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

/** A number, or a string holding one (BLDS ExtraFields are strings); NaN when neither. */
export function numberAt(doc: unknown, pointer: string): number | undefined {
  const value = valueAt(doc, pointer);
  if (!isPresent(value)) return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return NaN;
}

const text = (doc: unknown, pointer: string): string | null => {
  const value = valueAt(doc, pointer);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
};

/** The facts the rules and the decision policy key on. */
export interface ApplicationFacts {
  jurisdiction: string | null;
  permitType: string | null;
  permitClass: string | null;
  workClass: string | null;
  /** BLDS EstProjectCost, when a finite number. */
  valuation: number | null;
  parcelNumber: string | null;
  masterPermitNumber: string | null;
  /** YYYY-MM-DD of appliedAt, when it is a date. */
  appliedDate: string | null;
  /** payment.amountPaid in cents; null when no payment came with the application. */
  paidCents: number | null;
  currency: string | null;
}

export function applicationFacts(application: unknown): ApplicationFacts {
  const valuation = numberAt(application, '/project/estimatedCost');
  const paid = numberAt(application, '/payment/amountPaid');
  const applied = text(application, '/appliedAt');
  const appliedMs = applied === null ? NaN : Date.parse(applied);
  return {
    jurisdiction: text(application, '/jurisdiction'),
    permitType: text(application, '/permitType'),
    permitClass: text(application, '/permitClass'),
    workClass: text(application, '/workClass'),
    valuation: valuation !== undefined && Number.isFinite(valuation) ? valuation : null,
    parcelNumber: text(application, '/site/parcelNumber'),
    masterPermitNumber: text(application, '/masterPermitNumber'),
    appliedDate: Number.isNaN(appliedMs) ? null : new Date(appliedMs).toISOString().slice(0, 10),
    paidCents: paid !== undefined && Number.isFinite(paid) ? Math.round(paid * 100) : null,
    currency: isPresent(valueAt(application, '/payment')) ? (text(application, '/payment/currency') ?? 'USD') : null,
  };
}

/** Whether a rule's `when` holds for the application (no `when`: always). */
export function applies(when: When | undefined, facts: ApplicationFacts): boolean {
  if (!when) return true;
  const within = (list: string[] | undefined, value: string | null) => list === undefined || (value !== null && list.includes(value));
  return within(when.permitTypes, facts.permitType) && within(when.permitClasses, facts.permitClass) && within(when.workClasses, facts.workClass);
}
