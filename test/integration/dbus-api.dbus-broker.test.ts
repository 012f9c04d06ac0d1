// The D-Bus API tests of dbus-api.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('dbus-api.test.ts', () => import('./dbus-api.test.ts'));
