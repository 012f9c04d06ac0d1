import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pemCertificates } from '../../src/pki/certificate/index.ts';

const block = (label: string, bytes: number[]) => `-----BEGIN ${label}-----\n${Buffer.from(bytes).toString('base64')}\n-----END ${label}-----\n`;

describe('the PEM reader (pemCertificates)', () => {
  it('returns every CERTIFICATE block in text order, skipping keys, other blocks and text around them', () => {
    const text = ['Attested-Name: bmc-b\n', block('CERTIFICATE', [1, 2, 3]), block('EC PRIVATE KEY', [9]), 'comment\n', block('CERTIFICATE', [4, 5])].join('');
    assert.deepEqual(
      pemCertificates(text).map((der) => [...der]),
      [
        [1, 2, 3],
        [4, 5],
      ],
    );
  });

  it('an empty list when the text holds no certificate block', () => {
    assert.deepEqual(pemCertificates('not a pem at all\n'), []);
    assert.deepEqual(pemCertificates(block('X509 CRL', [1])), []);
  });

  it('throws when a certificate block is not valid base64 (the trust store refuses the file)', () => {
    assert.throws(() => pemCertificates('-----BEGIN CERTIFICATE-----\n@@not base64@@\n-----END CERTIFICATE-----\n'), /base64/i);
  });
});
