import { hostname } from 'node:os';
import * as z from 'zod';
import { DEFAULT_REATTEST_INTERVAL_S, DEFAULT_REATTEST_MAX_UNREACHABLE } from '../../machines/reattestation.ts';
import { isListenAddress } from '../net/listen-hosts.ts';

/** Seconds as configured; fractions allowed so tests can use sub-second timings. */
const seconds = (min: number, max: number) => z.number().min(min).max(max);

const tcpPort = z.number().int().min(1).max(65535);

/** The TCP port attestationd serves SPDM on unless configured otherwise (as DMTF's spdm-emu does). */
export const DEFAULT_SPDM_PORT = 2323;

/** A D-Bus well-known or interface name (dot-separated elements). */
const dbusName = z
  .string()
  .max(255)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/, 'must be a D-Bus name such as xyz.openbmc_project.LLDP');
/** An absolute D-Bus object path other than `/`. */
const dbusPath = z.string().max(255).regex(/^(\/[A-Za-z0-9_]+)+$/, 'must be a D-Bus object path such as /xyz/openbmc_project/network/lldp');
/** A D-Bus member (property) name. */
const dbusMember = z.string().max(255).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a D-Bus property name');

/** An address to listen on: IPv4, or IPv6 with an optional zone (`fe80::1%eth1`). */
export const listenAddress = z.string().max(64).refine(isListenAddress, 'must be an IP address (IPv6 may carry a zone, as in fe80::1%eth1)');

/** A DNS-style identity, as it appears in certificate SANs and LLDP SystemName. */
export const bmcName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'must be a host name (letters, digits, "-" and ".")');

export const tokenSchema = z.object({
  module: z.string().min(1),
  label: z.string().min(1).max(32),
  pin_file: z.string().min(1),
  /** Label of the CA key object on the token. */
  key_label: z.string().min(1).max(64).default('provisioningd-ca'),
});

export const peerSchema = z.object({
  name: bmcName,
  address: z.union([z.ipv4(), z.ipv6(), bmcName]),
  port: tcpPort.default(8090),
  /** Where the peer's attestationd serves SPDM (its `spdm_port`); absent means DEFAULT_SPDM_PORT. */
  spdm_port: tcpPort.optional(),
});

/**
 * Every configuration key with its default. The field names are the JSON keys users write;
 * docs/configuration.md lists each one.
 */
export const configSchema = z
  .object({
    port: tcpPort.default(8090),
    cert_root: z.string().min(1).default('/'),
    interface_id: z.string().min(1).max(15).default('eth1'),
    listen_addresses: z.array(listenAddress).max(16).default([]),
    retry_count: z.number().int().min(0).max(100).default(3),
    retry_timer: seconds(0.05, 3600).default(30),
    retry_base: seconds(0.01, 3600).default(1),
    name: bmcName.default(() => hostname()),
    state_dir: z.string().min(1).default('/var/lib/provisioning'),
    /** The trusted peer CAs; absent means `<state_dir>/trust` (src/pki/trust/trust-dir.ts). */
    trust_dir: z.string().min(1).optional(),
    token: tokenSchema.optional(),
    peers: z.array(peerSchema).max(64).default([]),
    inspect_port: z.number().int().min(0).max(65535).default(0),
    stately_inspector_url: z.url({ protocol: /^wss?$/ }).optional(),
    keepalive_interval: seconds(0.05, 3600).default(5),
    keepalive_timeout: seconds(0.05, 3600).default(3),
    handshake_timeout: seconds(0.05, 600).default(10),
    idle_timeout: seconds(0.1, 7200).default(10),
    max_connections: z.number().int().min(1).max(10000).default(64),
    leaf_lifetime: seconds(2, 365 * 86400).default(86400),
    ca_lifetime_days: z.number().int().min(1).max(36500).default(3650),
    attestation_timeout: seconds(0.1, 3600).default(30),
    max_requested_peers: z.number().int().min(1).max(4096).default(64),
    failed_peer_lifetime: seconds(0.1, 7 * 86400).default(600),
    token_timeout: seconds(0.1, 600).default(30),
    log_level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    lldp_service: dbusName.default('xyz.openbmc_project.LLDP'),
    lldp_object_root: dbusPath.default('/xyz/openbmc_project/network/lldp'),
    lldp_interface: dbusName.default('xyz.openbmc_project.Network.LLDP.TLVs'),
    lldp_name_property: dbusMember.default('SystemName'),
    lldp_address_property: dbusMember.default('ManagementAddressIPv4'),
    lldp_max_neighbors: z.number().int().min(1).max(4096).default(256),
    metrics_port: z.number().int().min(0).max(65535).default(0),
    // Continuous attestation (docs/attestation.md, "Re-attestation"): every attested peer is attested
    // again this often (seconds, ±10 % jitter; 0 = never), and this many attempts in a row that could
    // not run make it stale.
    reattest_interval_s: z.number().min(0).max(7 * 86400).default(DEFAULT_REATTEST_INTERVAL_S),
    reattest_max_unreachable: z.number().int().min(1).max(1000).default(DEFAULT_REATTEST_MAX_UNREACHABLE),
  })
  .superRefine((c, ctx) => {
    if (c.idle_timeout <= c.keepalive_interval + c.keepalive_timeout) {
      ctx.addIssue({
        code: 'custom',
        path: ['idle_timeout'],
        message: `must be longer than keepalive_interval + keepalive_timeout (${c.keepalive_interval + c.keepalive_timeout} s)`,
      });
    }
    if (c.retry_base > c.retry_timer) {
      ctx.addIssue({ code: 'custom', path: ['retry_base'], message: 'must not exceed retry_timer' });
    }
  });

/** The validated configuration the daemon runs with. */
export type Config = z.infer<typeof configSchema>;
/** A static peer from the `peers` key. */
export type StaticPeer = Config['peers'][number];
/** The PKCS#11 token selection from the `token` key. */
export type TokenConfig = NonNullable<Config['token']>;

/** The keys the schema knows, so that unknown ones can be reported rather than ignored. */
export const knownKeys = {
  top: new Set(Object.keys(configSchema.shape)),
  token: new Set(Object.keys(tokenSchema.shape)),
  peer: new Set(Object.keys(peerSchema.shape)),
} as const;
