import { createHash, X509Certificate } from 'node:crypto';
import { readDer, subjectNameDer, type DerElement } from './subject-name-der.ts';

/** DER tags of the string types OpenSSL canonicalises (ASN1_MASK_CANON in crypto/x509/x_name.c). */
const UTF8_STRING = 0x0c;
const PRINTABLE_STRING = 0x13;
const T61_STRING = 0x14;
const IA5_STRING = 0x16;
const UNIVERSAL_STRING = 0x1c;
const VISIBLE_STRING = 0x1a;
const BMP_STRING = 0x1e;
const SEQUENCE = 0x30;
const SET = 0x31;

/**
 * OpenSSL's subject-name hash of a certificate (8 lowercase hex digits), the name stem that
 * `openssl verify -CApath` looks up: X509_NAME_hash, computed in-process (no subprocess). It is the
 * first 4 bytes, little-endian, of the SHA-1 of the name's canonical encoding (see canonicalName).
 */
export function opensslSubjectHash(cert: string | Uint8Array): string {
  const der = typeof cert === 'string' ? new Uint8Array(new X509Certificate(cert).raw) : cert;
  return nameHash(subjectNameDer(der));
}

/** X509_NAME_hash of a DER-encoded Name (SEQUENCE OF RelativeDistinguishedName). */
export function nameHash(nameDer: Uint8Array): string {
  const md = createHash('sha1').update(canonicalName(nameDer)).digest();
  return md.readUInt32LE(0).toString(16).padStart(8, '0');
}

/**
 * x509_name_canon: each RDN re-encoded as a DER SET OF its attributes, the SETs concatenated (no
 * outer SEQUENCE). String values become UTF8String with ASCII whitespace trimmed and collapsed and
 * ASCII letters lowercased; values of other types are copied as they are.
 */
export function canonicalName(nameDer: Uint8Array): Uint8Array {
  const name = readDer(nameDer, 0);
  if (name.tag !== SEQUENCE || name.end !== nameDer.length) throw new Error('subject name is not one DER SEQUENCE');
  const parts: Uint8Array[] = [];
  for (const rdn of children(nameDer, name)) {
    if (rdn.tag !== SET) throw new Error('subject name: a relative distinguished name is not a SET');
    const avas = children(nameDer, rdn).map((ava) => canonicalAva(nameDer, ava));
    avas.sort(derOrder);
    parts.push(tlv(SET, concat(avas)));
  }
  return concat(parts);
}

function canonicalAva(buf: Uint8Array, ava: DerElement): Uint8Array {
  if (ava.tag !== SEQUENCE) throw new Error('subject name: an attribute is not a SEQUENCE');
  const [type, value, ...rest] = children(buf, ava);
  if (!type || !value || rest.length) throw new Error('subject name: an attribute is not a type and one value');
  const typeTlv = buf.subarray(type.start, type.end);
  const text = decodeString(value.tag, buf.subarray(value.contentStart, value.end));
  const valueTlv = text === undefined ? buf.subarray(value.start, value.end) : tlv(UTF8_STRING, canonicalText(text));
  return tlv(SEQUENCE, concat([typeTlv, valueTlv]));
}

/** The UTF-8 bytes of a string value as ASN1_STRING_to_UTF8 makes them; undefined for a type copied as is. */
function decodeString(tag: number, content: Uint8Array): Uint8Array | undefined {
  switch (tag) {
    case UTF8_STRING:
      // ASN1_STRING_to_UTF8 rejects malformed UTF-8, and so does X509_NAME_hash then.
      new TextDecoder('utf-8', { fatal: true }).decode(content);
      return content;
    case PRINTABLE_STRING:
    case T61_STRING:
    case IA5_STRING:
    case VISIBLE_STRING:
      // One byte, one character (Latin-1), as OpenSSL reads these types.
      return Buffer.from(Buffer.from(content).toString('latin1'), 'utf8');
    case BMP_STRING:
      return utf8OfCodePoints(content, 2);
    case UNIVERSAL_STRING:
      return utf8OfCodePoints(content, 4);
    default:
      return undefined;
  }
}

function utf8OfCodePoints(content: Uint8Array, width: 2 | 4): Uint8Array {
  if (content.length % width) throw new Error(`subject name: a ${width === 2 ? 'BMPString' : 'UniversalString'} has a partial character`);
  const view = new DataView(content.buffer, content.byteOffset, content.byteLength);
  let text = '';
  for (let i = 0; i < content.length; i += width) {
    const cp = width === 2 ? view.getUint16(i) : view.getUint32(i);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new Error(`subject name: character U+${cp.toString(16)} is not valid`);
    text += String.fromCodePoint(cp);
  }
  return Buffer.from(text, 'utf8');
}

/** ossl_isspace: the C locale's white space. */
function isSpace(b: number | undefined): boolean {
  return b === 0x20 || (b !== undefined && b >= 0x09 && b <= 0x0d);
}

/** asn1_string_canon on UTF-8 bytes: trim, collapse white space to one space, lowercase ASCII. */
function canonicalText(s: Uint8Array): Uint8Array {
  let from = 0;
  let to = s.length;
  while (from < to && isSpace(s[from])) from++;
  while (to > from && isSpace(s[to - 1])) to--;
  const out: number[] = [];
  for (let i = from; i < to; ) {
    const b = s[i] ?? 0;
    if (b >= 0x80) {
      out.push(b);
      i++;
    } else if (isSpace(b)) {
      out.push(0x20);
      while (i < to && isSpace(s[i])) i++;
    } else {
      out.push(b >= 0x41 && b <= 0x5a ? b + 0x20 : b);
      i++;
    }
  }
  return Uint8Array.from(out);
}

function children(buf: Uint8Array, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const el = readDer(buf, at);
    if (el.end > parent.end) throw new Error('subject name: an element runs past its parent');
    out.push(el);
    at = el.end;
  }
  return out;
}

/** DER order of SET OF members: byte-wise, a prefix first. */
function derOrder(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const len: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    header = [tag, 0x80 | len.length, ...len];
  }
  return concat([Uint8Array.from(header), content]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}
