/** One neighbour as lldpd reports it, reduced to what the OpenBMC LLDP TLVs interface carries. */
export interface LldpdNeighbour {
  /** Local interface it was heard on. */
  readonly localInterface: string;
  /** lldpd's remote index (`rid`), stable while the neighbour lives. */
  readonly rid: string;
  /** Chassis id and port id: the MSAP identifier that tells neighbours apart. */
  readonly chassisId: string;
  readonly portId: string;
  readonly systemName: string;
  readonly managementAddressIPv4: string;
  readonly managementAddressIPv6: string;
}

/** What a `lldpcli -f json0` document says: a full table (`show neighbors`) or one watch event. */
export type LldpdReport =
  | { readonly kind: 'table'; readonly neighbours: readonly LldpdNeighbour[] }
  | { readonly kind: 'added' | 'updated' | 'deleted'; readonly neighbours: readonly LldpdNeighbour[] };

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const asRecord = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
/** json0 wraps every value in `[{ "value": … }]`; the first string value, or ''. */
function firstValue(v: unknown): string {
  for (const item of asArray(v)) {
    const value = asRecord(item)['value'];
    if (typeof value === 'string') return value;
  }
  return '';
}
function allValues(v: unknown): string[] {
  return asArray(v)
    .map((item) => asRecord(item)['value'])
    .filter((x): x is string => typeof x === 'string');
}

function neighbourOf(entry: unknown): LldpdNeighbour | undefined {
  const rec = asRecord(entry);
  const localInterface = typeof rec['name'] === 'string' ? rec['name'] : '';
  if (!localInterface) return undefined;
  const chassis = asRecord(asArray(rec['chassis'])[0]);
  const port = asRecord(asArray(rec['port'])[0]);
  const ips = allValues(chassis['mgmt-ip']);
  return {
    localInterface,
    rid: typeof rec['rid'] === 'string' ? rec['rid'] : '',
    chassisId: firstValue(chassis['id']),
    portId: firstValue(port['id']),
    systemName: firstValue(chassis['name']),
    managementAddressIPv4: ips.find((ip) => IPV4.test(ip)) ?? '',
    managementAddressIPv6: ips.find((ip) => ip.includes(':')) ?? '',
  };
}

function neighboursOf(section: unknown): LldpdNeighbour[] {
  const out: LldpdNeighbour[] = [];
  for (const block of asArray(section)) {
    for (const entry of asArray(asRecord(block)['interface'])) {
      const n = neighbourOf(entry);
      if (n) out.push(n);
    }
  }
  return out;
}

/** Reads one json0 document; undefined when it is neither a table nor a watch event. */
export function parseLldpdReport(doc: unknown): LldpdReport | undefined {
  const rec = asRecord(doc);
  if ('lldp' in rec) return { kind: 'table', neighbours: neighboursOf(rec['lldp']) };
  for (const kind of ['added', 'updated', 'deleted'] as const) {
    const key = `lldp-${kind}`;
    if (key in rec) return { kind, neighbours: neighboursOf(rec[key]) };
  }
  return undefined;
}

/** The identity of a neighbour across events: interface plus MSAP identifier. */
export const neighbourKey = (n: LldpdNeighbour) => `${n.localInterface}\u0000${n.chassisId}\u0000${n.portId}`;
