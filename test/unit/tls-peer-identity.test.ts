import assert from 'node:assert/strict';
import type { PeerCertificate } from 'node:tls';
import { describe, it } from 'node:test';
import { linkTimings, detectionWindowMs } from '../../src/tls/link-timings.ts';
import { EKU, checkClientPeer, checkServerPeer, dnsNamesOf, hasEku, peerNameOf } from '../../src/tls/peer-identity.ts';
import { MAX_PEER_LEAF_VALIDITY_MS } from '../../src/tls/peer-validity.ts';
import { failureReason, isLocalVerificationFailure, isPeerAlert } from '../../src/tls/tls-failure.ts';

const HOUR_MS = 3_600_000;
/** Node's rendering of a certificate time (`Dec  6 10:00:00 2026 GMT`). */
const certTime = (ms: number) => {
  const d = new Date(ms);
  const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return `${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)} ${d.getUTCFullYear()} GMT`;
};

/** The fields of Node's PeerCertificate these functions read; the rest is irrelevant to them. Valid ±1 day by default. */
function cert(fields: { san?: string; cn?: string; eku?: string[]; from?: number; to?: number }): PeerCertificate {
  const now = Date.now();
  return {
    subjectaltname: fields.san,
    subject: { CN: fields.cn },
    ext_key_usage: fields.eku,
    valid_from: certTime(fields.from ?? now - 24 * HOUR_MS),
    valid_to: certTime(fields.to ?? now + 24 * HOUR_MS),
  } as unknown as PeerCertificate;
}

describe('peer identity from a certificate', () => {
  it('reads DNS SANs as Node renders them and skips quoted (escaped) entries', () => {
    assert.deepEqual(dnsNamesOf(cert({ san: 'DNS:bmc-b, IP Address:127.0.0.1, DNS:alt.example' })), ['bmc-b', 'alt.example']);
    assert.deepEqual(dnsNamesOf(cert({ san: 'DNS:"evil, DNS:bmc-a"' })), []);
    assert.deepEqual(dnsNamesOf(cert({})), []);
  });

  it('names a peer by its first DNS SAN, else its CN', () => {
    assert.equal(peerNameOf(cert({ san: 'DNS:bmc-b', cn: 'other' })), 'bmc-b');
    assert.equal(peerNameOf(cert({ cn: 'bmc-b-cn' })), 'bmc-b-cn');
    assert.equal(peerNameOf(cert({})), undefined);
  });

  it('requires EKU clientAuth of a client and a name', () => {
    assert.deepEqual(checkClientPeer(cert({ san: 'DNS:bmc-b', eku: [EKU.clientAuth] })), { name: 'bmc-b' });
    const wrongEku = checkClientPeer(cert({ san: 'DNS:bmc-b', eku: [EKU.serverAuth] }));
    assert.ok(wrongEku instanceof Error && wrongEku.code === 'ERR_PEER_EKU');
    const noEku = checkClientPeer(cert({ san: 'DNS:bmc-b' }));
    assert.ok(noEku instanceof Error && noEku.code === 'ERR_PEER_EKU', 'a leaf without any EKU extension is refused');
    const anonymous = checkClientPeer(cert({ eku: [EKU.clientAuth] }));
    assert.ok(anonymous instanceof Error && anonymous.code === 'ERR_PEER_NO_NAME');
    assert.equal(hasEku(cert({ eku: [EKU.serverAuth, EKU.clientAuth] }), EKU.serverAuth), true);
  });

  it('refuses a leaf whose validity is absurd, with the reason, from either side', () => {
    const now = Date.now();
    const absurd: Array<{ what: string; from: number; to: number; reason: RegExp }> = [
      { what: 'notAfter before notBefore', from: now - HOUR_MS, to: now - 2 * HOUR_MS, reason: /validity is absurd: notAfter .* is not after notBefore/ },
      { what: 'a lifetime of years', from: now - 365 * 24 * HOUR_MS, to: now + 3 * 365 * 24 * HOUR_MS, reason: /valid for 1460 days .* longer than any leaf a provisioningd issues/ },
      { what: 'notBefore far in the future', from: now + 30 * 24 * HOUR_MS, to: now + 31 * 24 * HOUR_MS, reason: /not valid before .* more than 48 h after this BMC's clock/ },
    ];
    for (const a of absurd) {
      const client = checkClientPeer(cert({ san: 'DNS:bmc-b', eku: [EKU.clientAuth], from: a.from, to: a.to }));
      assert.ok(client instanceof Error && client.code === 'ERR_PEER_VALIDITY', a.what);
      assert.ok(client.message.startsWith('client certificate '), client.message);
      assert.match(client.message, a.reason, a.what);
      const server = checkServerPeer('bmc-b', cert({ san: 'DNS:bmc-b', eku: [EKU.serverAuth], from: a.from, to: a.to }));
      assert.ok(server?.code === 'ERR_PEER_VALIDITY', a.what);
      assert.ok(server.message.startsWith('server certificate '), server.message);
      assert.match(server.message, a.reason, a.what);
    }
    // What a skewed peer issues (48 h either side of its own now, a year's lifetime at most) is fine.
    const longest = cert({ san: 'DNS:bmc-b', eku: [EKU.clientAuth], from: now - HOUR_MS, to: now - HOUR_MS + MAX_PEER_LEAF_VALIDITY_MS });
    assert.deepEqual(checkClientPeer(longest), { name: 'bmc-b' });
    const ahead = cert({ san: 'DNS:bmc-b', eku: [EKU.clientAuth], from: now + 47 * HOUR_MS, to: now + 120 * HOUR_MS });
    assert.deepEqual(checkClientPeer(ahead), { name: 'bmc-b' });
    const unreadable = checkClientPeer({ ...cert({ san: 'DNS:bmc-b', eku: [EKU.clientAuth] }), valid_to: 'never' });
    assert.ok(unreadable instanceof Error && unreadable.code === 'ERR_PEER_VALIDITY' && /no readable validity/.test(unreadable.message));
  });
});

describe('a refused server certificate in the reason (forged certificates are bad input)', () => {
  it('names the wrong peer it named', () => {
    const e = checkServerPeer('bmc-a', cert({ san: 'DNS:bmc-c', eku: [EKU.serverAuth] }));
    assert.equal(e?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.equal(e?.message, 'server certificate names bmc-c, expected bmc-a');
  });

  it('quotes at most three names, printable and cut, however many or long the certificate carries', () => {
    const many = Array.from({ length: 5000 }, (_, i) => `DNS:n${i}.${'x'.repeat(300)}`).join(', ');
    const e = checkServerPeer('bmc-a', cert({ san: many, eku: [EKU.serverAuth] }));
    assert.equal(e?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.ok((e?.message.length ?? Infinity) < 1000, `bounded: ${e?.message.length} characters`);
    assert.match(e?.message ?? '', /^server certificate names n0\.x+…, n1\.x+…, n2\.x+… and 4997 more, expected bmc-a$/);
    const junk = checkServerPeer('bmc-a', cert({ cn: `evil\u001b[2J\n${'y'.repeat(400)}`, eku: [EKU.serverAuth] }));
    assert.ok(junk, 'a certificate without DNS names does not name bmc-a');
    assert.match(junk.message, /^[\x20-\x7e…]+$/, 'printable characters only');
    assert.ok(junk.message.length < 400, junk.message);
  });
});

describe('TLS failure classification', () => {
  const withCode = (code: string, message = code) => Object.assign(new Error(message), { code });

  it('treats our own refusal of the peer certificate as verification failure, not the peer alerting us', () => {
    for (const c of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_PEER_EKU', 'ERR_PEER_VALIDITY']) {
      assert.equal(isLocalVerificationFailure(withCode(c)), true, c);
    }
    for (const c of ['ECONNREFUSED', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'ECONNRESET']) {
      assert.equal(isLocalVerificationFailure(withCode(c)), false, c);
    }
    assert.equal(isPeerAlert(withCode('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')), true);
    assert.equal(isPeerAlert(withCode('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE')), true);
    assert.equal(isPeerAlert(withCode('ECONNREFUSED')), false);
    assert.equal(isLocalVerificationFailure(undefined), false);
  });

  it('gives one-line reasons without the OpenSSL error-queue prefix', () => {
    assert.equal(failureReason(withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9')), 'connect ECONNREFUSED 127.0.0.1:9');
    assert.equal(
      failureReason(
        withCode(
          'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
          '40A7D8C3AD7F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../ssl/record/rec_layer_s3.c:1605:SSL alert number 48\n',
        ),
      ),
      'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: tlsv1 alert unknown ca (SSL alert number 48)',
    );
    assert.equal(
      failureReason(withCode('ERR_SSL_UNSUPPORTED_PROTOCOL', '40E7E5A1E27F0000:error:0A000102:SSL routines:tls_early_post_process_client_hello:unsupported protocol:../deps/openssl/openssl/ssl/statem/statem_srvr.c:1664:\n')),
      'ERR_SSL_UNSUPPORTED_PROTOCOL: unsupported protocol',
    );
  });
});

describe('link timings', () => {
  it('converts the configured seconds and defines the detection window as interval + timeout', () => {
    const t = linkTimings({ keepalive_interval: 5, keepalive_timeout: 3, handshake_timeout: 10, idle_timeout: 20 });
    assert.deepEqual(t, { keepaliveIntervalMs: 5000, keepaliveTimeoutMs: 3000, handshakeTimeoutMs: 10000, idleTimeoutMs: 20000 });
    assert.equal(detectionWindowMs(t), 8000);
  });
});
