/**
 * Permit and inspection history of the parcel from the jurisdiction's SODA datasets, queried
 * concurrently. Summarises what the validator cares about: permits still open and failed
 * inspections. Without a known parcel there is no history to ask for (`not_found`).
 */
import type { LookupResult } from '../../schemas/types.ts';
import type { LookupContext } from './context.ts';
import { FAILED_INSPECTION_RESULTS, INSPECTION_FIELDS as I, OPEN_PERMIT_STATUSES, PERMIT_FIELDS as P } from './fields.ts';
import type { ParcelAnswer } from './parcel.ts';
import type { HistoryData, PastInspection, PastPermit } from '../../domain/lookups.ts';
import { lookupResult } from './provenance.ts';
import { queryRows, soqlString, sodaNumber, sodaText } from './soda.ts';


/** Most rows of each dataset a lookup reads: a parcel's history, not a city's. */
const MAX_ROWS = 200;

export async function lookupHistory(ctx: LookupContext, parcel: ParcelAnswer, signal?: AbortSignal): Promise<LookupResult> {
  const { permits: permitsUrl, inspections: inspectionsUrl } = ctx.endpoints;
  const source = `${permitsUrl} ${inspectionsUrl}`;
  if (parcel.outsideJurisdiction) return lookupResult('history', 'outside_jurisdiction', [], null, source);
  const apn = parcel.parcel?.apn;
  if (!apn) return lookupResult('history', 'not_found', [], { reason: 'parcel not found' }, source);

  const client = ctx.clients.history;
  const [permitsAnswer, inspectionsAnswer] = await Promise.all([
    queryRows(client, permitsUrl, { where: `${P.parcel} = ${soqlString(apn)}`, order: `${P.issuedDate} DESC`, limit: MAX_ROWS }, signal),
    queryRows(client, inspectionsUrl, { where: `${I.parcel} = ${soqlString(apn)}`, order: `${I.inspectionDate} DESC`, limit: MAX_ROWS }, signal),
  ]);
  const permits = permitsAnswer.rows.map((row): PastPermit => ({
    permitNumber: sodaText(row, P.permitNumber),
    permitType: sodaText(row, P.permitType),
    workClass: sodaText(row, P.workClass),
    status: sodaText(row, P.status),
    description: sodaText(row, P.description),
    appliedDate: sodaText(row, P.appliedDate),
    issuedDate: sodaText(row, P.issuedDate),
    finaledDate: sodaText(row, P.finaledDate),
    valuation: sodaNumber(row, P.valuation),
  }));
  const inspections = inspectionsAnswer.rows.map((row): PastInspection => ({
    inspectionId: sodaText(row, I.inspectionId),
    permitNumber: sodaText(row, I.permitNumber),
    inspectionType: sodaText(row, I.inspectionType),
    result: sodaText(row, I.result),
    inspectionDate: sodaText(row, I.inspectionDate),
  }));
  const data: HistoryData = {
    apn,
    openPermits: permits.filter((p) => p.status !== null && OPEN_PERMIT_STATUSES.has(p.status)).map((p) => p.permitNumber),
    failedInspections: inspections.filter((i) => i.result !== null && FAILED_INSPECTION_RESULTS.has(i.result)).length,
    permits,
    inspections,
  };
  return lookupResult('history', 'found', [permitsAnswer, inspectionsAnswer], data, source);
}
