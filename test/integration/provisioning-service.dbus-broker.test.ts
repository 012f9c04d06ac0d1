// The tests of provisioning-service.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('provisioning-service.test.ts', () => import('./provisioning-service.test.ts'));
