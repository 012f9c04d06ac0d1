/** The in-process OpenSSL subject hash agrees with `openssl x509 -subject_hash` on ordinary and odd names. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { opensslSubjectHash } from '../../src/pki/trust/openssl-subject-hash.ts';
import { mustRun } from '../harness/run-tool.ts';

/** Subjects in `openssl req -subj` syntax; `+` joins attributes of one multi-valued RDN. */
const SUBJECTS: readonly string[] = [
  '/CN=peer CA',
  '/CN=Peer CA',
  '/CN=PEER    CA',
  '/CN=  leading and trailing  ',
  '/CN=tab\there',
  '/CN=new\nline\r\nand\vvertical\fform',
  '/CN=\t \t',
  '/C=DE/ST=Bayern/L=München/O=Ünïcödé GmbH/OU=Ops/CN=bmc-07.rack-3',
  '/CN=Жёлтый Шкаф',
  '/CN=ЖЁЛТЫЙ шкаф',
  '/CN=emoji 🚀 rack',
  '/CN=日本語 の 名前',
  '/CN=ÀÉÎÕÜ àéîõü',
  '/O=Acme/CN=a+OU=b',
  '/CN=z+CN=a+CN=M',
  '/emailAddress=Ops@Example.COM/CN=mail',
  '/DC=Example/DC=COM/CN=dc',
  '/serialNumber=ABC 123/CN=serial',
  '/CN=quote " and \\/ slash',
  '/CN=x',
  '/CN=',
  `/CN=${'long name '.repeat(12).trim()}`,
  '/O=org only',
  '/CN=mixedCASE-Name_01.example',
];

/** string_mask values: utf8only (UTF8String), default (Printable/T61/BMP/Universal), pkix, nombstr. */
const MASKS = ['utf8only', 'default', 'pkix', 'nombstr'] as const;

describe('OpenSSL subject hash, in process', () => {
  let dir = '';
  let key = '';
  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'subject-hash-'));
      key = join(dir, 'key.pem');
      await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    },
    { timeout: 60_000 },
  );
  after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 10_000 });

  for (const mask of MASKS) {
    it(`matches openssl x509 -subject_hash for ${SUBJECTS.length} names with string_mask=${mask}`, async () => {
      const config = join(dir, `${mask}.cnf`);
      writeFileSync(config, `[req]\ndistinguished_name = dn\nstring_mask = ${mask}\n[dn]\n`);
      let compared = 0;
      for (const [i, subject] of SUBJECTS.entries()) {
        const certFile = join(dir, `${mask}-${i}.pem`);
        const made = await mustRun('openssl', [
          'req', '-new', '-x509', '-key', key, '-out', certFile, '-days', '1', '-config', config,
          '-utf8', '-multivalue-rdn', '-subj', subject,
        ]).then(
          () => true,
          () => false, // a mask that cannot encode the name (nombstr and non-Latin-1): openssl refuses, nothing to compare
        );
        if (!made) continue;
        const expected = (await mustRun('openssl', ['x509', '-in', certFile, '-noout', '-subject_hash'])).trim();
        const pem = await mustRun('openssl', ['x509', '-in', certFile]);
        assert.equal(opensslSubjectHash(pem), expected, `subject ${JSON.stringify(subject)} (string_mask=${mask})`);
        compared++;
      }
      assert.ok(compared >= SUBJECTS.length / 2, `only ${compared} certificates could be made`);
    });
  }

  it('refuses something that is not a certificate', () => {
    assert.throws(() => opensslSubjectHash(Uint8Array.from([0x30, 0x03, 0x02, 0x01])));
  });
});
