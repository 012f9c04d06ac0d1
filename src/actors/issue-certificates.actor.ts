import { fromPromise } from 'xstate';
import type { IssueRequest, IssueSummary } from '../../machines/events.ts';

/** The one operation the statechart needs from the PKI: issue (and, on 'provision', create) credentials. */
export interface CertificateIssuing {
  issue(req: IssueRequest): Promise<IssueSummary>;
}

/** The machine's `issueCertificates` actor, backed by the token CA. */
export function createIssueCertificatesActor(issuer: CertificateIssuing) {
  return fromPromise<IssueSummary, IssueRequest>(({ input }) => issuer.issue(input));
}
