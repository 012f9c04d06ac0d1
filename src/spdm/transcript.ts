import { concatBytes } from './byte-reader.ts';

/**
 * The message transcripts of one SPDM 1.2 connection, kept the same way on both sides:
 * A = GET_VERSION..ALGORITHMS (VCA); B = GET_DIGESTS..CERTIFICATE; C = CHALLENGE and
 * CHALLENGE_AUTH without its signature; M = the GET_MEASUREMENTS/MEASUREMENTS since the last
 * signed one. CHALLENGE_AUTH signs A‖B‖C (M1/M2); a signed MEASUREMENTS signs A‖M (L1/L2).
 */
export class Transcript {
  private a: Uint8Array[] = [];
  private b: Uint8Array[] = [];
  private c: Uint8Array[] = [];
  private m: Uint8Array[] = [];

  /** GET_VERSION starts everything over. */
  reset(): void {
    this.a = [];
    this.b = [];
    this.c = [];
    this.m = [];
  }
  appendA(...msgs: Uint8Array[]): void {
    this.a.push(...msgs);
  }
  resetB(): void {
    this.b = [];
  }
  appendB(...msgs: Uint8Array[]): void {
    this.b.push(...msgs);
  }
  resetC(): void {
    this.c = [];
  }
  appendC(...msgs: Uint8Array[]): void {
    this.c.push(...msgs);
  }
  resetM(): void {
    this.m = [];
  }
  appendM(...msgs: Uint8Array[]): void {
    this.m.push(...msgs);
  }
  /** M1 (responder) / M2 (requester). */
  challengeTranscript(): Uint8Array {
    return concatBytes([...this.a, ...this.b, ...this.c]);
  }
  /** L1 (responder) / L2 (requester). */
  measurementTranscript(): Uint8Array {
    return concatBytes([...this.a, ...this.m]);
  }
}
