/**
 * One element of a D-Bus object path made from arbitrary text, escaped as sdbusplus does
 * (sd_bus_path_encode): every byte outside `[A-Za-z0-9]`, and a leading digit, becomes `_` and two
 * lowercase hex digits; the empty string becomes `_`. So `bmc-b` is `bmc_2db`.
 */
export function escapePathLabel(text: string): string {
  if (text.length === 0) return '_';
  let out = '';
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    const alnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
    const leadingDigit = i === 0 && b >= 0x30 && b <= 0x39;
    out += alnum && !leadingDigit ? String.fromCharCode(b) : `_${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of escapePathLabel; undefined when `label` is not a valid escaped element. */
export function unescapePathLabel(label: string): string | undefined {
  if (label === '_') return '';
  const bytes: number[] = [];
  for (let i = 0; i < label.length; ) {
    const c = label[i] ?? '';
    if (c === '_') {
      const hex = label.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 3;
    } else if (/^[A-Za-z0-9]$/.test(c)) {
      bytes.push(c.charCodeAt(0));
      i += 1;
    } else {
      return undefined;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
