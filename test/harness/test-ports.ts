import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * TCP ports for tests that must name a port before anything listens on it (a daemon's `port`, a
 * static peer's address, swtpm's two ports).
 *
 * A port found free by binding port 0 and closing again comes from the kernel's ephemeral range,
 * from which the kernel keeps handing out ports (to outgoing connections and `listen(0)` of every
 * process on the machine): on a busy machine it can be taken before the daemon binds it, seconds
 * later. So test ports come from just below that range, where the kernel never picks, and each is
 * claimed with a lock file naming the claiming process, so concurrent test processes never share
 * one. A claim lasts until the claiming process exits; a claim whose process is gone is taken over.
 */

const LOCK_DIR = join(tmpdir(), 'provisioningd-test-ports');
/** How many ports below the ephemeral range the tests draw from. */
const SPAN = 10_000;
const claimed = new Set<number>();
let exitHookInstalled = false;

/** The kernel's ephemeral range (Linux); the usual default when it cannot be read. */
function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high && low > 2048) return { low, high };
  } catch {
    // not Linux: fall through
  }
  return { low: 32768, high: 60999 };
}

/** The ports tests draw from: [first, last], below the ephemeral range and above the well-known ports. */
function testRange(): { first: number; last: number } {
  const { low } = ephemeralRange();
  return { first: Math.max(1024, low - SPAN), last: low - 1 };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates the lock file of `port` for this process; takes over a lock whose process is gone. */
function lock(port: number): boolean {
  const file = join(LOCK_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(file, 'utf8'));
      } catch {
        // removed or half-written just now: treat as owned, try another port
      }
      if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) return false;
      try {
        unlinkSync(file);
      } catch {
        return false;
      }
    }
  }
  return false;
}

function unlock(port: number): void {
  try {
    if (Number(readFileSync(join(LOCK_DIR, String(port)), 'utf8')) === process.pid) unlinkSync(join(LOCK_DIR, String(port)));
  } catch {
    // already gone
  }
}

/** Whether a server could listen on `port` on every address right now (as the daemon's responder does). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Claims `count` consecutive ports nobody listens on and no other test process holds, and returns
 * the first. They stay this process's until it exits.
 */
export async function claimPorts(count = 1): Promise<number> {
  mkdirSync(LOCK_DIR, { recursive: true });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of claimed) unlock(p);
    });
  }
  const { first, last } = testRange();
  const size = last - first + 1 - (count - 1);
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const base = first + ((start + i) % size);
    const ports = Array.from({ length: count }, (_, k) => base + k);
    if (ports.some((p) => claimed.has(p))) continue;
    const locked: number[] = [];
    for (const p of ports) {
      if (!lock(p)) break;
      locked.push(p);
    }
    if (locked.length === count && (await Promise.all(ports.map(bindable))).every(Boolean)) {
      for (const p of ports) claimed.add(p);
      return base;
    }
    for (const p of locked) unlock(p);
  }
  throw new Error(`no ${count} free test port(s) in ${first}-${last}`);
}
