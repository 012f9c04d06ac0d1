import { hostname } from 'node:os';
import * as z from '../util/zod.ts';
import { DEFAULT_REATTEST_INTERVAL_S, DEFAULT_REATTEST_MAX_UNREACHABLE } from '../../machines/reattestation.ts';
import { isListenAddress } from '../net/listen-hosts.ts';
import { LOG_LEVELS } from '../log.ts';

/** Seconds as configured; fractions allowed so tests can use sub-second timings. */
export const seconds = (min: number, max: number) => z.number().check(z.minimum(min), z.maximum(max));

/** The TCP port attestationd serves SPDM on unless configured otherwise (as DMTF's spdm-emu does). */
export const DEFAULT_SPDM_PORT = 2323;

/** A D-Bus well-known or interface name (dot-separated elements). */
const dbusName = z
  .string()
  .check(z.maxLength(255), z.regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/, 'must be a D-Bus name such as xyz.openbmc_project.LLDP'));
/** An absolute D-Bus object path other than `/`. */
const dbusPath = z.string().check(z.maxLength(255), z.regex(/^(\/[A-Za-z0-9_]+)+$/, 'must be a D-Bus object path such as /xyz/openbmc_project/network/lldp'));
/** A D-Bus member (property) name. */
const dbusMember = z.string().check(z.maxLength(255), z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a D-Bus property name'));

/** An address to listen on: IPv4, or IPv6 with an optional zone (`fe80::1%eth1`). */
export const listenAddress = z.string().check(z.maxLength(64), z.refine(isListenAddress, 'must be an IP address (IPv6 may carry a zone, as in fe80::1%eth1)'));

/** A DNS-style identity, as it appears in certificate SANs and LLDP SystemName. */
export const bmcName = z
  .string()
  .check(z.minLength(1), z.maxLength(253), z.regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'must be a host name (letters, digits, "-" and ".")'));

/** A non-empty string of at most `max` characters. */
export const text = (max?: number) => z.string().check(z.minLength(1), ...(max === undefined ? [] : [z.maxLength(max)]));
/** A whole number from `min` to `max`. */
export const whole = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));
/** A TCP port number. */
export const tcpPort = whole(1, 65535);
/** How much a daemon logs. */
export const logLevel = z._default(z.enum(LOG_LEVELS), 'info');

export const tokenSchema = z.object({
  module: text(),
  label: text(32),
  pin_file: text(),
  /** Label of the CA key object on the token. */
  key_label: z._default(text(64), 'provisioningd-ca'),
});

export const peerSchema = z.object({
  name: bmcName,
  address: z.union([z.ipv4(), z.ipv6(), bmcName]),
  port: z._default(tcpPort, 8090),
  /** Where the peer's attestationd serves SPDM (its `spdm_port`); absent means DEFAULT_SPDM_PORT. */
  spdm_port: z.optional(tcpPort),
});

/**
 * Every configuration key with its default. The field names are the JSON keys users write;
 * docs/configuration.md lists each one.
 */
export const configSchema = z
  .object({
    port: z._default(tcpPort, 8090),
    cert_root: z._default(text(), '/'),
    interface_id: z._default(text(15), 'eth1'),
    listen_addresses: z._default(z.array(listenAddress).check(z.maxLength(16)), []),
    retry_count: z._default(whole(0, 100), 3),
    retry_timer: z._default(seconds(0.05, 3600), 30),
    retry_base: z._default(seconds(0.01, 3600), 1),
    // prefault, not _default: the host name goes through bmcName like a configured name would.
    name: z.prefault(bmcName, () => hostname()),
    state_dir: z._default(text(), '/var/lib/provisioning'),
    /** The trusted peer CAs; absent means `<state_dir>/trust` (src/pki/trust/trust-dir.ts). */
    trust_dir: z.optional(text()),
    token: z.optional(tokenSchema),
    peers: z._default(z.array(peerSchema).check(z.maxLength(64)), []),
    inspect_port: z._default(whole(0, 65535), 0),
    // Inspection data leaves the BMC: encrypted (wss://) to any host, in clear (ws://) only to this machine (an SSH tunnel's end).
    stately_inspector_url: z.optional(
      z.url({ protocol: /^wss?$/ }).check(
        z.refine((url) => !URL.canParse(url) || new URL(url).protocol === 'wss:' || ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname), 'ws:// (unencrypted) may only name 127.0.0.1, localhost or [::1]; use wss:// for another host'),
      ),
    ),
    keepalive_interval: z._default(seconds(0.05, 3600), 5),
    keepalive_timeout: z._default(seconds(0.05, 3600), 3),
    handshake_timeout: z._default(seconds(0.05, 600), 10),
    idle_timeout: z._default(seconds(0.1, 7200), 10),
    max_connections: z._default(whole(1, 10000), 64),
    leaf_lifetime: z._default(seconds(2, 365 * 86400), 86400),
    ca_lifetime_days: z._default(whole(1, 36500), 3650),
    attestation_timeout: z._default(seconds(0.1, 3600), 30),
    max_requested_peers: z._default(whole(1, 4096), 64),
    failed_peer_lifetime: z._default(seconds(0.1, 7 * 86400), 600),
    token_timeout: z._default(seconds(0.1, 600), 30),
    log_level: logLevel,
    lldp_service: z._default(dbusName, 'xyz.openbmc_project.LLDP'),
    lldp_object_root: z._default(dbusPath, '/xyz/openbmc_project/network/lldp'),
    lldp_interface: z._default(dbusName, 'xyz.openbmc_project.Network.LLDP.TLVs'),
    lldp_name_property: z._default(dbusMember, 'SystemName'),
    lldp_address_property: z._default(dbusMember, 'ManagementAddressIPv4'),
    lldp_max_neighbors: z._default(whole(1, 4096), 256),
    metrics_port: z._default(whole(0, 65535), 0),
    // Continuous attestation (docs/attestation.md, "Re-attestation"): every attested peer is attested
    // again this often (seconds, ±10 % jitter; 0 = never), and this many attempts in a row that could
    // not run make it stale.
    reattest_interval_s: z._default(seconds(0, 7 * 86400), DEFAULT_REATTEST_INTERVAL_S),
    reattest_max_unreachable: z._default(whole(1, 1000), DEFAULT_REATTEST_MAX_UNREACHABLE),
  })
  .check(
    z.superRefine((c, ctx) => {
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
    }),
  );

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
