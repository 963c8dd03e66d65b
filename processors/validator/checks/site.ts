/**
 * Site checks from the lookups: the site is in the jurisdiction and on a known parcel, the use
 * is permitted in its zoning district, overlay rules (flood, historic, environmental) and no
 * open permit of the same kind on the parcel. A lookup that could not be read is flagged for a
 * reviewer (LOOKUP_UNAVAILABLE, a warning): the applicant cannot fix it, so it never rejects.
 */
import type { Finding } from '../../../schemas/types.ts';
import { applies, valueAt } from '../application.ts';
import { CODES } from '../codes.ts';
import type { LookupView, OverlayFacts } from '../lookups.ts';
import type { OverlayRule } from '../rule-set.ts';
import { finding, type Check, type CheckContext } from './context.ts';

const unavailable = (ctx: CheckContext, what: string, problem: string): Finding =>
  finding(ctx, CODES.LOOKUP_UNAVAILABLE, 'WARNING', '/site', `The ${what} could not be checked automatically (${problem}): a reviewer checks it by hand.`);

/** Whether any lookup placed the site outside the jurisdiction: then no other site rule applies. */
export function outsideJurisdiction(ctx: CheckContext): boolean {
  return Object.values(ctx.lookups).some((l: LookupView<unknown>) => l.status === 'outside_jurisdiction');
}

export const jurisdictionAndParcel: Check = (ctx) => {
  if (outsideJurisdiction(ctx)) {
    return [finding(ctx, CODES.OUTSIDE_JURISDICTION, 'ERROR', '/site', `The site is outside ${ctx.ruleSet.jurisdiction}: file the application with the city or county where the site lies.`)];
  }
  const parcel = ctx.lookups.parcel;
  if (parcel.status === 'not_found') {
    const apn = ctx.facts.parcelNumber;
    const message = apn
      ? `No tax parcel ${apn} is on the county's records: check the assessor's parcel number (APN) on the property tax statement.`
      : "No tax parcel was found at the site's address or coordinates: give the assessor's parcel number (APN) of the site.";
    return [finding(ctx, CODES.PARCEL_NOT_FOUND, 'ERROR', '/site/parcelNumber', message)];
  }
  if (parcel.status === 'unavailable') return [unavailable(ctx, 'parcel', parcel.problem)];
  return [];
};

export const zoningUse: Check = (ctx) => {
  if (outsideJurisdiction(ctx)) return [];
  const zoning = ctx.lookups.zoning;
  const parcelMissing = ctx.lookups.parcel.status === 'not_found';
  if (zoning.status === 'unavailable') return [unavailable(ctx, 'zoning district', zoning.problem)];
  if (zoning.status === 'not_found') {
    // Without a parcel the zoning lookup had nowhere to look: PARCEL_NOT_FOUND already says so.
    if (parcelMissing) return [];
    return [finding(ctx, CODES.ZONING_NOT_FOUND, 'WARNING', '/site', `No zoning district was found at the site${zoning.reason ? ` (${zoning.reason})` : ''}: a planner confirms the zoning by hand.`)];
  }
  if (zoning.status !== 'found') return [];

  const rules = ctx.ruleSet.zoning;
  const use = valueAt(ctx.application, rules.useField);
  if (typeof use !== 'string' || use.trim() === '' || ctx.facts.workClass === null || !rules.workClasses.includes(ctx.facts.workClass)) return [];
  const code = zoning.data.zoneCode;
  const district = code === null ? undefined : rules.districts[code];
  if (!district) {
    return [finding(ctx, CODES.ZONING_DISTRICT_UNKNOWN, 'WARNING', rules.useField, `The site's zoning district ${code ?? '(unnamed)'} has no use table in the county's rules: a planner reviews the use "${use}".`)];
  }
  if (district.uses.some((u) => u.toLowerCase() === use.trim().toLowerCase())) return [];
  const name = zoning.data.zoneName ? ` (${zoning.data.zoneName})` : '';
  return [
    finding(
      ctx,
      CODES.ZONING_USE_NOT_PERMITTED,
      'ERROR',
      rules.useField,
      `"${use}" is not a permitted use in zone ${code}${name}; permitted uses are: ${district.uses.join(', ')}. Correct the proposed use, or obtain a conditional use permit or zone change first.`,
    ),
  ];
};

/** The overlay a rule is about at this site, described for the message, or null when absent. */
function overlayAt(rule: OverlayRule, overlays: OverlayFacts): string | null {
  const flood = overlays.flood;
  switch (rule.overlay) {
    case 'special-flood-hazard-area':
      return flood?.specialFloodHazardArea ? `flood zone ${flood.zone ?? 'unnamed'}` : null;
    case 'floodway':
      return flood?.specialFloodHazardArea && (flood.subtype ?? '').toUpperCase().includes('FLOODWAY') ? `floodway of flood zone ${flood.zone ?? 'unnamed'}` : null;
    case 'historic-district': {
      const names = overlays.historicDistricts.map((d) => d.name ?? 'unnamed historic district');
      return names.length > 0 ? names.join(', ') : null;
    }
    case 'environmental': {
      const hits = overlays.environmental.filter((e) => rule.environmentalTypes === undefined || (e.type !== null && rule.environmentalTypes.includes(e.type)));
      return hits.length > 0 ? hits.map((e) => [e.type, e.name, e.codeSection].filter(Boolean).join(': ')).join('; ') : null;
    }
  }
}

export const overlayRules: Check = (ctx) => {
  if (outsideJurisdiction(ctx)) return [];
  const overlays = ctx.lookups.overlays;
  if (overlays.status === 'unavailable') return [unavailable(ctx, 'flood, historic and environmental overlays', overlays.problem)];
  if (overlays.status === 'not_found') {
    return ctx.lookups.parcel.status === 'not_found' ? [] : [unavailable(ctx, 'flood, historic and environmental overlays', overlays.reason ?? 'no location')];
  }
  if (overlays.status !== 'found') return [];
  const kinds = new Set(ctx.attachments.map((a) => a.kind));
  const findings: Finding[] = [];
  for (const rule of ctx.ruleSet.overlays) {
    if (!applies(rule.when, ctx.facts)) continue;
    const overlay = overlayAt(rule, overlays.data);
    if (overlay === null) continue;
    if (rule.requireAttachment !== undefined && kinds.has(rule.requireAttachment)) continue;
    const field = rule.requireAttachment !== undefined ? '/attachments' : '/site';
    findings.push(finding(ctx, rule.code, rule.severity, field, `${rule.message} (${overlay})`));
  }
  return findings;
};

export const activePermits: Check = (ctx) => {
  if (outsideJurisdiction(ctx)) return [];
  const history = ctx.lookups.history;
  if (history.status === 'unavailable') return [unavailable(ctx, 'permit history of the parcel', history.problem)];
  // History is keyed by the parcel: not_found follows from a missing parcel, already a finding.
  if (history.status !== 'found' || ctx.facts.permitType === null) return [];
  const { statuses, severity } = ctx.ruleSet.activePermits;
  const kind = ctx.facts.permitType.toLowerCase();
  return history.data.permits
    .filter((p) => p.status !== null && statuses.includes(p.status) && p.permitType?.toLowerCase() === kind && p.permitNumber !== ctx.facts.masterPermitNumber)
    .map((p) =>
      finding(
        ctx,
        CODES.ACTIVE_PERMIT_EXISTS,
        severity,
        '/masterPermitNumber',
        `${p.permitType} permit ${p.permitNumber ?? '(unnumbered)'} is still ${p.status} on this parcel: finish or withdraw it first, or file this work as a revision of it by giving ${p.permitNumber ?? 'its number'} as masterPermitNumber.`,
      ),
    );
};
