// The tests of attestation-service.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('attestation-service.test.ts', () => import('./attestation-service.test.ts'));
