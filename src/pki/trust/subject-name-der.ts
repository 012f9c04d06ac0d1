/** One DER element found in a buffer: where its tag, content and end are. */
export interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** Reads the DER element at `at` (single-byte tags, definite lengths), bounds-checked. */
export function readDer(buf: Uint8Array, at: number): DerElement {
  const tag = buf[at];
  const first = buf[at + 1];
  if (tag === undefined || first === undefined) throw new Error('DER: truncated element');
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not supported');
  let contentStart = at + 2;
  let len = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new Error('DER: unsupported length');
    len = 0;
    for (let i = 0; i < n; i++) {
      const b = buf[contentStart + i];
      if (b === undefined) throw new Error('DER: truncated length');
      len = len * 256 + b;
    }
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > buf.length) throw new Error('DER: element runs past the end');
  return { tag, start: at, contentStart, end };
}

/**
 * The subject Name (whole DER TLV) of a DER certificate: Certificate → tbsCertificate → [version],
 * serialNumber, signature, issuer, validity, subject.
 */
export function subjectNameDer(certDer: Uint8Array): Uint8Array {
  const cert = readDer(certDer, 0);
  const tbs = readDer(certDer, cert.contentStart);
  let at = tbs.contentStart;
  if (certDer[at] === 0xa0) at = readDer(certDer, at).end; // [0] version
  for (let i = 0; i < 4; i++) at = readDer(certDer, at).end; // serial, signature, issuer, validity
  const subject = readDer(certDer, at);
  if (subject.tag !== 0x30 || subject.end > tbs.end) throw new Error('certificate: no subject name where expected');
  return certDer.subarray(subject.start, subject.end);
}
