// The tests of attestation-responder-objects.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('attestation-responder-objects.test.ts', () => import('./attestation-responder-objects.test.ts'));
