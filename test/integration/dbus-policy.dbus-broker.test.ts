// The tests of dbus-policy.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('dbus-policy.test.ts', () => import('./dbus-policy.test.ts'));
