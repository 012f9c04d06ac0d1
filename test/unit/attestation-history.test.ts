import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerView } from '../../machines/peer-projection.ts';
import { attestationRecords } from '../../src/state/attestation-history.ts';

const view = (name: string, over: Partial<PeerView>): PeerView => ({
  name,
  peerConnected: 'xyz.openbmc_project.Provisioning.Provisioning.PeerConnectionStatus.Connected',
  lastFailure: '',
  attested: true,
  lastAttested: 0,
  attestationStale: false,
  revocations: 0,
  ...over,
});

describe('attestation records persisted across a restart', () => {
  it('keeps an earlier run\'s records until this run has a verdict for the peer', () => {
    const previous = { 'bmc-b': { lastAttestedMs: 1000, verdict: 'passed' as const }, 'bmc-c': { lastAttestedMs: 2000, verdict: 'passed' as const } };
    const out = attestationRecords(previous, [view('bmc-b', {}), view('bmc-c', { lastAttested: 5_000_000, lastVerdict: 'passed' })]);
    assert.deepEqual(out, { 'bmc-b': previous['bmc-b'], 'bmc-c': { lastAttestedMs: 5000, verdict: 'passed' } });
  });

  it('a revocation is recorded with the time of the last pass; an attempt that could not run keeps it too', () => {
    const previous = { 'bmc-b': { lastAttestedMs: 1000, verdict: 'passed' as const } };
    assert.deepEqual(attestationRecords(previous, [view('bmc-b', { lastVerdict: 'revoked', attested: false })]), {
      'bmc-b': { lastAttestedMs: 1000, verdict: 'revoked' },
    });
    assert.deepEqual(attestationRecords({}, [view('bmc-d', { lastVerdict: 'unreachable' })]), { 'bmc-d': { verdict: 'unreachable' } });
  });
});
