// The tests of attestation-two-bmcs.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('attestation-two-bmcs.test.ts', () => import('./attestation-two-bmcs.test.ts'));
